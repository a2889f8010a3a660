"""Coalitions: create one and bind it to a room, appoint coordinators, add and remove member towns."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass

from hub.domain import permissions
from hub.domain.identifiers import check_matrix_user_id
from hub.domain.model import Coalition, Role, Town
from hub.errors import Conflict, InvalidInput, NotFound
from hub.i18n import LANGUAGES
from hub.services.context import ServiceContext
from hub.store import UnitOfWork


@dataclass(frozen=True, slots=True)
class CoalitionSummary:
    coalition: Coalition
    towns: int
    coordinators: list[str]


class CoalitionService:
    def __init__(self, context: ServiceContext) -> None:
        self.context = context

    async def create(self, actor_id: str, name: str, room_id: str, language: str = "fr") -> Coalition:
        """Creates a coalition bound to a Matrix room (admin only)."""
        name, room_id = name.strip(), room_id.strip()
        if not name:
            raise InvalidInput("error.coalition.name_required")
        # Room versions up to 11 have ids "!opaque:server"; version 12 (Synapse's and Element's default now)
        # drops the server part.
        if not room_id.startswith("!") or len(room_id) < 2 or " " in room_id:
            raise InvalidInput("error.coalition.room_id", room_id=room_id)
        if language not in LANGUAGES:
            raise InvalidInput("error.language", language=language, allowed=", ".join(LANGUAGES))
        async with self.context.store.unit() as uow:
            permissions.require_admin(await self.context.actor(uow, actor_id))
            if await uow.coalitions.by_name(name):
                raise Conflict("error.coalition.name_taken", name=name)
            if existing := await uow.coalitions.by_room(room_id):
                raise Conflict("error.coalition.room_taken", name=existing.name)
            coalition = await uow.coalitions.add(name, room_id, language)
            await uow.audit.append(
                actor_id,
                "coalition.create",
                coalition_id=coalition.id,
                details={"name": name, "room_id": room_id},
            )
            return coalition

    async def list(self) -> list[CoalitionSummary]:
        async with self.context.store.unit() as uow:
            counts = await uow.coalitions.member_counts()
            return [
                CoalitionSummary(c, counts.get(c.id, 0), await uow.roles.holders(Role.COORDINATOR, coalition_id=c.id))
                for c in await uow.coalitions.list()
            ]

    async def set_language(self, actor_id: str, coalition_id: int, language: str) -> Coalition:
        """The language the bot speaks in the coalition's room (its coordinators)."""
        if language not in LANGUAGES:
            raise InvalidInput("error.language", language=language, allowed=", ".join(LANGUAGES))
        async with self.context.store.unit() as uow:
            coalition = await get_coalition(uow, coalition_id)
            permissions.require_coordinator(await self.context.actor(uow, actor_id), coalition.id, coalition.name)
            await uow.coalitions.set_language(coalition.id, language)
            await uow.audit.append(
                actor_id, "coalition.language", coalition_id=coalition.id, details={"language": language}
            )
            return Coalition(coalition.id, coalition.name, coalition.room_id, language)

    async def get(self, coalition_id: int) -> Coalition:
        async with self.context.store.unit() as uow:
            return await get_coalition(uow, coalition_id)

    async def coordinators(self, coalition_id: int) -> builtins.list[str]:
        """The Matrix ids of the coalition's coordinators (whom the bot asks when a decision is theirs)."""
        async with self.context.store.unit() as uow:
            coalition = await get_coalition(uow, coalition_id)
            return await uow.roles.holders(Role.COORDINATOR, coalition_id=coalition.id)

    async def by_room(self, room_id: str) -> Coalition | None:
        async with self.context.store.unit() as uow:
            return await uow.coalitions.by_room(room_id)

    async def appoint_coordinator(self, actor_id: str, coalition_id: int, user_id: str) -> bool:
        """Makes ``user_id`` a coordinator of the coalition (admin only); False if they already were."""
        check_matrix_user_id(user_id)
        async with self.context.store.unit() as uow:
            coalition = await get_coalition(uow, coalition_id)
            permissions.require_admin(await self.context.actor(uow, actor_id))
            added = await uow.roles.grant(user_id, Role.COORDINATOR, by=actor_id, coalition_id=coalition.id)
            if added:
                await uow.audit.append(
                    actor_id, "coordinator.appoint", coalition_id=coalition.id, details={"user": user_id}
                )
            return added

    async def add_towns(self, actor_id: str, coalition_id: int, town_ids: Sequence[int]) -> int:
        """Adds stored towns to the coalition (its coordinators); returns how many were new members."""
        async with self.context.store.unit() as uow:
            coalition = await get_coalition(uow, coalition_id)
            permissions.require_coordinator(await self.context.actor(uow, actor_id), coalition.id, coalition.name)
            for town_id in town_ids:
                await get_town(uow, town_id)
            added = await uow.towns.add_members(coalition.id, town_ids)
            if added:
                await uow.audit.append(
                    actor_id,
                    "coalition.add_towns",
                    coalition_id=coalition.id,
                    details={"town_ids": sorted(town_ids), "added": added},
                )
            return added

    async def remove_town(self, actor_id: str, coalition_id: int, town_id: int) -> None:
        async with self.context.store.unit() as uow:
            coalition = await get_coalition(uow, coalition_id)
            town = await get_town(uow, town_id)
            permissions.require_coordinator(await self.context.actor(uow, actor_id), coalition.id, coalition.name)
            if not await uow.towns.remove_member(coalition.id, town.id):
                raise NotFound("error.coalition.not_member", town=town.name, coalition=coalition.name)
            await uow.audit.append(actor_id, "coalition.remove_town", coalition_id=coalition.id, town_id=town.id)

    async def members(self, coalition_id: int) -> builtins.list[Town]:
        async with self.context.store.unit() as uow:
            await get_coalition(uow, coalition_id)
            return await uow.towns.list(coalition_id)


async def get_coalition(uow: UnitOfWork, coalition_id: int) -> Coalition:
    coalition = await uow.coalitions.get(coalition_id)
    if coalition is None:
        raise NotFound("error.coalition.unknown", id=str(coalition_id))
    return coalition


async def coordinated(context: ServiceContext, uow: UnitOfWork, actor_id: str, coalition_id: int) -> Coalition:
    """The coalition, once ``actor_id`` is known to coordinate it (or to be an admin)."""
    coalition = await get_coalition(uow, coalition_id)
    permissions.require_coordinator(await context.actor(uow, actor_id), coalition.id, coalition.name)
    return coalition


async def get_town(uow: UnitOfWork, town_id: int) -> Town:
    town = await uow.towns.get(town_id)
    if town is None:
        raise NotFound("error.town.unknown", id=str(town_id))
    return town

"""Onboarding one town at a time: a coordinator adds a town to the coalition by its official code.

The bulk path is :meth:`hub.services.towns.TownService.import_file`; this one serves the bot's ``!ville
ajouter 93055``. The code is checked against the official list, so the town's name is the official one and a
mistyped code is refused with the nearest existing codes. The roster reads a coalition's towns with their
officers and linked networks in one transaction, for listing them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from hub import reference
from hub.domain import permissions
from hub.domain.model import Platform, Town, TownKind
from hub.services.coalitions import get_coalition
from hub.services.context import ServiceContext
from hub.store.repositories import TownValues


@dataclass(frozen=True, slots=True)
class TownAdded:
    """The outcome of :meth:`OnboardingService.add_town`."""

    town: Town
    #: The town was not yet known to the hub: it was created from the official list.
    created: bool
    #: The town was not yet a member of the coalition.
    joined: bool


@dataclass(frozen=True, slots=True)
class RosterEntry:
    """A member town with its officers and the networks it has linked an account on."""

    town: Town
    officers: list[str]
    platforms: list[Platform]


class OnboardingService:
    """Adds towns to a coalition one by one and lists a coalition's towns for its room."""

    def __init__(self, context: ServiceContext) -> None:
        self.context = context

    async def add_town(
        self, actor_id: str, coalition_id: int, code: str, kind: TownKind = TownKind.COMMUNE
    ) -> TownAdded:
        """Adds the town with official ``code`` to the coalition (its coordinators), creating it if needed.

        Raises :class:`hub.errors.InvalidInput` for a code that is not in the official list (with the nearest
        codes), :class:`hub.errors.PermissionDenied` for someone who does not coordinate the coalition.
        """
        # The first look-up loads the whole list: keep it off the event loop.
        entry = await asyncio.to_thread(reference.validate, kind, code)
        async with self.context.store.unit() as uow:
            coalition = await get_coalition(uow, coalition_id)
            permissions.require_coordinator(await self.context.actor(uow, actor_id), coalition.id, coalition.name)
            town = await uow.towns.by_key(kind, entry.code)
            created = town is None
            if town is None:
                values = TownValues(kind, entry.code, entry.name, self.context.settings.default_timezone, {})
                await uow.towns.insert_many([values])
                town = await uow.towns.by_key(kind, entry.code)
                assert town is not None  # just inserted in this transaction
            joined = await uow.towns.add_members(coalition.id, [town.id]) > 0
            if created or joined:
                await uow.audit.append(
                    actor_id,
                    "town.add",
                    coalition_id=coalition.id,
                    town_id=town.id,
                    details={"code": entry.code, "created": created, "joined": joined},
                )
            return TownAdded(town, created, joined)

    async def roster(self, coalition_id: int) -> list[RosterEntry]:
        """The coalition's towns by name, each with its officers and linked networks."""
        async with self.context.store.unit() as uow:
            await get_coalition(uow, coalition_id)
            towns = await uow.towns.list(coalition_id)
            officers = await uow.roles.officers_by_town(t.id for t in towns)
            accounts = await uow.accounts.of_towns(t.id for t in towns)
        return [
            RosterEntry(t, officers.get(t.id, []), sorted({a.platform for a in accounts.get(t.id, [])})) for t in towns
        ]

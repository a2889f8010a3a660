"""Who may do what: pure rules over a user's grants. Services call :func:`require` before acting."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from hub.domain.model import Role
from hub.errors import PermissionDenied


class Scope(enum.Enum):
    DEPLOYMENT = "deployment"
    COALITION = "coalition"
    TOWN = "town"


@dataclass(frozen=True, slots=True)
class Actor:
    """The person a service call is made for, with the roles they hold."""

    user_id: str
    is_admin: bool
    coordinator_of: frozenset[int]
    officer_of: frozenset[int]

    @classmethod
    def build(cls, user_id: str, admins: Iterable[str], grants: Iterable[tuple[Role, int | None, int | None]]) -> Actor:
        coordinator, officer = set(), set()
        for role, coalition_id, town_id in grants:
            if role is Role.COORDINATOR and coalition_id is not None:
                coordinator.add(coalition_id)
            elif role is Role.OFFICER and town_id is not None:
                officer.add(town_id)
        return cls(user_id, user_id in set(admins), frozenset(coordinator), frozenset(officer))

    @property
    def holds_any_role(self) -> bool:
        return self.is_admin or bool(self.coordinator_of or self.officer_of)


def can_administer(actor: Actor) -> bool:
    return actor.is_admin


def can_coordinate(actor: Actor, coalition_id: int) -> bool:
    return actor.is_admin or coalition_id in actor.coordinator_of


def can_speak_for(actor: Actor, town_id: int, coalition_members: Iterable[int] | None = None) -> bool:
    """Officers speak for their own town; within a coalition, only for a member town. The admin always can."""
    if actor.is_admin:
        return coalition_members is None or town_id in set(coalition_members)
    if town_id not in actor.officer_of:
        return False
    return coalition_members is None or town_id in set(coalition_members)


def require_admin(actor: Actor) -> None:
    if not can_administer(actor):
        raise PermissionDenied("error.permission.admin")


def require_coordinator(actor: Actor, coalition_id: int, coalition_name: str) -> None:
    if not can_coordinate(actor, coalition_id):
        raise PermissionDenied("error.permission.coordinator", coalition=coalition_name)


def require_officer(actor: Actor, town_id: int, town_name: str, coalition_members: Iterable[int] | None = None) -> None:
    members = None if coalition_members is None else set(coalition_members)
    if members is not None and town_id not in members:
        raise PermissionDenied("error.permission.not_member", town=town_name)
    if not can_speak_for(actor, town_id, members):
        raise PermissionDenied("error.permission.officer", town=town_name)

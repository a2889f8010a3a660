from __future__ import annotations

import pytest

from hub.domain import permissions
from hub.domain.model import Role
from hub.domain.permissions import Actor
from hub.errors import PermissionDenied

COORD = Actor.build("@c:x", [], [(Role.COORDINATOR, 1, None)])
OFFICER = Actor.build("@o:x", [], [(Role.OFFICER, None, 10), (Role.OFFICER, None, 11)])
ADMIN = Actor.build("@a:x", ["@a:x"], [])
NOBODY = Actor.build("@n:x", [], [])


def test_roles_are_read_from_grants_and_settings() -> None:
    assert COORD.coordinator_of == {1} and not COORD.is_admin
    assert OFFICER.officer_of == {10, 11}
    assert ADMIN.is_admin


def test_coordinators_coordinate_only_their_coalition() -> None:
    assert permissions.can_coordinate(COORD, 1)
    assert not permissions.can_coordinate(COORD, 2)
    assert not permissions.can_coordinate(OFFICER, 1)
    assert permissions.can_coordinate(ADMIN, 2)
    with pytest.raises(PermissionDenied) as caught:
        permissions.require_coordinator(COORD, 2, "Touraine")
    assert "coordinateurs de « Touraine »" in caught.value.message("fr")


def test_officers_speak_only_for_their_member_towns() -> None:
    assert permissions.can_speak_for(OFFICER, 10, {10, 12})
    assert not permissions.can_speak_for(OFFICER, 11, {10, 12})  # their town is not a member
    assert not permissions.can_speak_for(COORD, 10, {10})  # coordinating is not signing
    assert permissions.can_speak_for(ADMIN, 12, {12})
    with pytest.raises(PermissionDenied) as caught:
        permissions.require_officer(OFFICER, 11, "Tours", {10, 12})
    assert "Tours ne fait pas partie de cette coalition" in caught.value.message("fr")
    with pytest.raises(PermissionDenied) as caught:
        permissions.require_officer(NOBODY, 10, "Pantin", {10})
    assert "Seuls les référents de Pantin" in caught.value.message("fr")


def test_only_admins_administer() -> None:
    permissions.require_admin(ADMIN)
    for actor in (COORD, OFFICER, NOBODY):
        with pytest.raises(PermissionDenied):
            permissions.require_admin(actor)

"""Coordinators' status links: only a coordinator gets one, a new one revokes the old, they expire, and only
the hash of the token is stored; the public page opens early once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from hub.core import Hub
from hub.errors import NotFound, PermissionDenied
from hub.services.links import token_hash
from hub.store.models import StatusLinkRow
from hub.urls import public_path, status_path
from tests.conftest import Clock
from tests.integration.helpers import PANTIN, RENNES, build_coalition, propose


async def test_a_coordinator_gets_a_link_that_opens_the_announcement(hub: Hub, tmp_path: Path, clock: Clock) -> None:
    setup = await build_coalition(hub, tmp_path)
    announcement = await propose(hub, setup)
    link = await hub.links.issue(setup.coordinator, setup.coalition.id, announcement.id)
    assert link.path == status_path(link.token) and len(link.token) >= 43
    assert link.expires_at == clock() + timedelta(days=hub.settings.status_link_days)
    target = await hub.links.resolve(link.token)
    assert target is not None
    assert (target.announcement_id, target.coalition_id) == (announcement.id, setup.coalition.id)
    async with hub.store.unit() as uow:
        stored = list(await uow.session.scalars(sa.select(StatusLinkRow.token_hash)))
    assert stored == [token_hash(link.token)]  # never the token itself


async def test_a_new_link_revokes_the_old_one_and_links_expire(hub: Hub, tmp_path: Path, clock: Clock) -> None:
    setup = await build_coalition(hub, tmp_path)
    announcement = await propose(hub, setup)
    old = await hub.links.issue(setup.coordinator, setup.coalition.id, announcement.id)
    new = await hub.links.issue(setup.coordinator, setup.coalition.id, announcement.id)
    assert await hub.links.resolve(old.token) is None
    assert await hub.links.resolve(new.token) is not None
    assert await hub.links.resolve("not-a-token") is None
    clock.now = new.expires_at
    assert await hub.links.resolve(new.token) is None


async def test_only_a_coordinator_of_that_coalition_gets_a_link(hub: Hub, tmp_path: Path) -> None:
    east = await build_coalition(hub, tmp_path)
    west = await build_coalition(hub, tmp_path, (RENNES,), name="Coalition Ouest", coordinator="@ouest:unisson.test")
    announcement = await propose(hub, east)
    with pytest.raises(PermissionDenied):
        await hub.links.issue(east.officer(PANTIN), east.coalition.id, announcement.id)
    with pytest.raises(PermissionDenied):
        await hub.links.open_public(west.coordinator, east.coalition.id, announcement.id)
    with pytest.raises(NotFound):  # another coalition's announcement is not found through this one
        await hub.links.issue(west.coordinator, west.coalition.id, announcement.id)


async def test_the_public_page_opens_early_once(hub: Hub, tmp_path: Path, clock: Clock) -> None:
    setup = await build_coalition(hub, tmp_path)
    announcement = await propose(hub, setup)
    path = await hub.links.open_public(setup.coordinator, setup.coalition.id, announcement.id)
    assert path == public_path(setup.coalition.id, announcement.id)
    opened = clock()
    clock.now += timedelta(hours=1)
    assert await hub.links.open_public(setup.coordinator, setup.coalition.id, announcement.id) == path
    async with hub.store.unit() as uow:
        assert await uow.links.public_since(announcement.id) == opened

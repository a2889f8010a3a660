"""Mastodon pre-staging when confirming goes wrong: a post the server published while the hub could not confirm
it is still retracted (see :mod:`tests.integration.test_prestage` for the scene)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from hub.core import Hub, utc_now
from hub.dispatch.unstaging import unstage_due
from hub.domain.model import AnnouncementState, DeliveryState, Platform
from sandbox.fleet import COORDINATOR, officer_of, token_of, username_of
from sandbox.mastodon import MASTODON
from tests.integration.test_dispatcher import running, settled
from tests.integration.test_prestage import scene


async def test_a_post_whose_confirmation_failed_is_still_retracted(hub: Hub, tmp_path: Path) -> None:
    """A town's token is revoked while the hub is down over the instant: its server publishes the scheduled
    status, but the hub cannot confirm it (delivery failed). Retracting queues its deletion; once the town links
    its account again, the post the server made is deleted too."""
    async with scene(hub, tmp_path, MASTODON) as s:
        async with running(hub):
            await s.staged()
        assert await hub.dispatch.prestaged(s.fleet.announcement.id) == len(s.fleet.towns)  # told if overdue
        town = s.fleet.towns[0]
        code = town.code or ""
        s.double.revoke_token(token_of(code))
        await s.past_instant()
        assert s.posts() == {t.id: 1 for t in s.fleet.towns}
        async with running(hub):
            await settled(hub, s.fleet.announcement.id, within=30)
        outcomes = {o.delivery.town_id: o.delivery for o in await hub.dispatch.outcomes(s.fleet.announcement.id)}
        assert outcomes[town.id].state is DeliveryState.FAILED
        failure = outcomes[town.id].error
        assert failure is not None and failure.params.get("staged") == "yes"  # the room told to look first

        await hub.dispatch.retract(COORDINATOR, s.fleet.announcement.id)
        async with hub.store.unit() as uow:
            assert await uow.unstagings.waiting() == 1  # the failed town's post, which is out all the same
        async with running(hub):
            assert await settled(hub, s.fleet.announcement.id, within=30) is AnnouncementState.RETRACTED
        assert s.posts() == {t.id: 0 for t in s.fleet.towns} | {town.id: 1}  # its token is still revoked
        async with hub.store.unit() as uow:
            assert await uow.unstagings.waiting() == 1  # kept, to be tried again

        token = s.double.issue_token(username_of(code))
        identifier = f"@{username_of(code)}@mastodon.test"
        await hub.accounts.link(officer_of(code), town.id, Platform.MASTODON, identifier, token, s.base)
        hub.clock = lambda: utc_now() + timedelta(minutes=15)  # past the wait after the failed tries
        assert await unstage_due(hub) == 1
        assert s.posts() == {t.id: 0 for t in s.fleet.towns}

"""``kill -9`` between towns' posts and their follow-ups and pins, again and again, then a restart: every town
ends with exactly one post, one reply under it and that post pinned, on each network; none missing, none doubled.

As in :mod:`tests.integration.test_dispatcher_crash`, the dispatcher runs as the operator runs it (a separate
process) and the doubles run in the test, so they survive the kills and count what was really posted.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from hub.core import Hub, utc_now
from hub.crypto import SecretBox, generate_key
from hub.domain.model import AnnouncementState, DeliveryState
from hub.settings import Settings
from hub.store import Store
from hub.store.models import DeliveryRow
from sandbox.bluesky import BlueskyDouble
from sandbox.fleet import Fleet, build_fleet, use_servers, username_of
from sandbox.mastodon import MASTODON, TAKAHE, MastodonDouble, Personality
from tests.conftest import ADMIN
from tests.integration.dispatcher_kills import dispatcher_env, kill_then_finish
from tests.tools.communes_csv import pick_communes

TOWNS = 20
FOLLOWUP = "La suite pour {ville} : https://example.org/depart"


async def replies_caught_waiting(hub: Hub) -> int:
    """How many follow-ups and pins wait (pending or held by a dead worker) under a post already made."""
    parent = sa.orm.aliased(DeliveryRow)
    query = (
        sa.select(sa.func.count())
        .select_from(DeliveryRow)
        .join(parent, parent.id == DeliveryRow.parent_id)
        .where(
            parent.state == DeliveryState.PUBLISHED.value,
            DeliveryRow.state.in_([DeliveryState.PENDING.value, DeliveryState.CLAIMED.value]),
        )
    )
    async with hub.store.unit() as uow:
        return int(await uow.session.scalar(query) or 0)


def assert_one_thread_per_town(fleet: Fleet) -> None:
    assert fleet.bluesky is not None and fleet.mastodon is not None
    for town in fleet.towns:
        records = fleet.bluesky.posts(fleet.dids[town.id])
        posts = [r for r in records if "reply" not in r.value]
        replies = [r for r in records if "reply" in r.value]
        assert (len(posts), len(replies)) == (1, 1), town.name
        assert replies[0].value["reply"]["parent"]["uri"] == posts[0].uri
        assert replies[0].value["reply"]["parent"]["cid"] == posts[0].cid
        statuses = fleet.mastodon.statuses(username_of(town.code or ""))
        tops = [s for s in statuses if s.in_reply_to_id is None]
        answers = [s for s in statuses if s.in_reply_to_id is not None]
        assert (len(tops), len(answers)) == (1, 1), town.name
        assert answers[0].in_reply_to_id == tops[0].id
        profile = fleet.bluesky.profile(fleet.dids[town.id]) or {}
        assert profile.get("pinnedPost", {}).get("uri") == posts[0].uri, town.name
        assert [s.id for s in fleet.mastodon.pinned(username_of(town.code or ""))] == [tops[0].id], town.name


@pytest.mark.parametrize("personality", [MASTODON, TAKAHE], ids=["mastodon", "takahe"])
async def test_kill_9_between_posts_and_their_followups_neither_loses_nor_doubles_a_reply(
    migrated_database_url: str, tmp_path: Path, personality: Personality
) -> None:
    key = generate_key()
    settings = Settings(data_dir=tmp_path, database_url=migrated_database_url, admins=[ADMIN], _env_file=None)  # type: ignore[call-arg]
    hub = Hub(Store.from_url(migrated_database_url), SecretBox([key]), settings, clock=utc_now)
    bluesky, mastodon = BlueskyDouble(seed=7), MastodonDouble(seed=7, personality=personality)
    for double in (bluesky, mastodon):  # slow answers keep the fan-out going while the kills come
        double.inject("latency", count=None, seconds=0.1)
        double.inject("commit_then_reset", count=None, fraction=0.05)
    async with bluesky.serve() as blue, mastodon.serve() as masto:
        use_servers(hub, plc_url=blue)
        codes = [(c.code, c.name) for c in pick_communes(TOWNS, seed=11)]
        fleet = await build_fleet(
            hub,
            tmp_path,
            codes,
            timedelta(seconds=1),
            bluesky=(bluesky, blue),
            mastodon=(mastodon, masto),
            followup=FOLLOWUP,
            pin=True,
        )
        env = dispatcher_env(tmp_path, migrated_database_url, key, blue)
        caught = 0

        async def look() -> None:
            nonlocal caught
            caught = max(caught, await replies_caught_waiting(hub))

        log = tmp_path / "dispatcher.log"

        async def replies_waiting() -> bool:
            return await replies_caught_waiting(hub) > 0

        state = await kill_then_finish(
            hub, fleet.announcement.id, env, log, kills=8, seed=43, after_kill=look, aim=replies_waiting
        )

        assert state is AnnouncementState.PUBLISHED, log.read_text(encoding="utf-8")[-3000:]
        # A kill did land between some towns' posts and their follow-ups.
        assert caught > 0
        assert_one_thread_per_town(fleet)
        outcomes = await hub.dispatch.outcomes(fleet.announcement.id)
        assert len(outcomes) == 2 * TOWNS
        assert all(o.followup is not None and o.followup.state is DeliveryState.PUBLISHED for o in outcomes)
        assert all(o.pin is not None and o.pin.state is DeliveryState.PUBLISHED for o in outcomes)
    await hub.close()

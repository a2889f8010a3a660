"""Follow-ups in thread: each town's second post, a reply to its own, exactly once, after it, never without it;
deleted first on retraction. Against the Bluesky double and both personalities of the Mastodon double."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from hub.domain.model import AnnouncementState, DeliveryState, Platform, ReportKind
from hub.errors import InvalidInput, TextDoesNotFit
from sandbox.fleet import COORDINATOR, Fleet, username_of
from sandbox.mastodon import MASTODON, TAKAHE, MastodonDouble, Personality
from tests.integration.test_dispatcher import CODES, MakeFleet, make_fleet, running, settled

__all__ = ["make_fleet"]  # the fixture, shared with the dispatcher's tests

BOTH = pytest.mark.parametrize("personality", [MASTODON, TAKAHE], ids=["mastodon", "takahe"])
FOLLOWUP = "Toutes les infos sur le départ de {ville} : https://example.org/depart"


def bluesky_thread(fleet: Fleet, town_id: int) -> tuple[list[Any], list[Any]]:
    """A town's posts on the Bluesky double: (top-level posts, replies)."""
    assert fleet.bluesky is not None
    records = fleet.bluesky.posts(fleet.dids[town_id])
    return [r for r in records if "reply" not in r.value], [r for r in records if "reply" in r.value]


def mastodon_thread(fleet: Fleet, code: str) -> tuple[list[Any], list[Any]]:
    assert fleet.mastodon is not None
    statuses = fleet.mastodon.statuses(username_of(code))
    return [s for s in statuses if s.in_reply_to_id is None], [s for s in statuses if s.in_reply_to_id]


@BOTH
async def test_each_town_posts_its_followup_once_in_thread_under_its_own_post(
    make_fleet: MakeFleet, personality: Personality
) -> None:
    fleet = await make_fleet(mastodon_options={"personality": personality}, fleet_options={"followup": FOLLOWUP})
    hub = fleet.hub
    async with running(hub):
        assert await settled(hub, fleet.announcement.id) is AnnouncementState.PUBLISHED

    for town in fleet.towns:
        [post], [reply] = bluesky_thread(fleet, town.id)
        refs = {k: (v["uri"], v["cid"]) for k, v in reply.value["reply"].items() if k != "$type"}
        assert refs == {"root": (post.uri, post.cid), "parent": (post.uri, post.cid)}
        assert reply.value["text"].startswith(f"Toutes les infos sur le départ de {town.name}")
        assert reply.created_at >= post.created_at
        [status], [answer] = mastodon_thread(fleet, town.code or "")
        assert answer.in_reply_to_id == status.id and answer.created_at >= status.created_at
    outcomes = await hub.dispatch.outcomes(fleet.announcement.id)
    assert len(outcomes) == 2 * len(CODES)
    for outcome in outcomes:
        assert outcome.followup is not None and outcome.followup.state is DeliveryState.PUBLISHED
        assert outcome.followup.remote_url and outcome.followup.remote_url != outcome.delivery.remote_url
    progress = await hub.dispatch.progress(fleet.announcement.id)
    assert (progress.total, progress.published, progress.waiting) == (2 * len(CODES), 2 * len(CODES), 0)


async def test_a_post_that_fails_for_good_takes_its_followup_with_it(make_fleet: MakeFleet) -> None:
    fleet = await make_fleet(fleet_options={"followup": FOLLOWUP})
    hub = fleet.hub
    assert fleet.mastodon is not None
    fleet.mastodon.revoke_token(fleet.tokens[fleet.towns[0].id])
    async with running(hub):
        assert await settled(hub, fleet.announcement.id) is AnnouncementState.PARTIALLY_FAILED

    outcomes = await hub.dispatch.outcomes(fleet.announcement.id)
    [failed] = [o for o in outcomes if o.delivery.state is DeliveryState.FAILED]
    assert failed.town.id == fleet.towns[0].id and failed.delivery.platform is Platform.MASTODON
    assert failed.followup is not None and failed.followup.state is DeliveryState.CANCELLED
    assert mastodon_thread(fleet, fleet.towns[0].code or "") == ([], [])
    assert len(bluesky_thread(fleet, fleet.towns[0].id)[1]) == 1


@BOTH
async def test_retracting_deletes_the_followup_before_the_post(make_fleet: MakeFleet, personality: Personality) -> None:
    fleet = await make_fleet(mastodon_options={"personality": personality}, fleet_options={"followup": FOLLOWUP})
    hub = fleet.hub
    async with running(hub):
        assert await settled(hub, fleet.announcement.id) is AnnouncementState.PUBLISHED
        preview = await hub.dispatch.retract_preview(COORDINATOR, fleet.announcement.id)
        assert (preview.posts, preview.towns) == (2 * len(CODES), len(CODES))
        await hub.dispatch.retract(COORDINATOR, fleet.announcement.id)
        assert await settled(hub, fleet.announcement.id) is AnnouncementState.RETRACTED

    assert fleet.bluesky is not None and fleet.mastodon is not None
    for town in fleet.towns:
        records = fleet.bluesky.posts(fleet.dids[town.id], include_deleted=True)
        [post] = [r for r in records if "reply" not in r.value]
        [reply] = [r for r in records if "reply" in r.value]
        assert reply.deleted_at is not None and post.deleted_at is not None and reply.deleted_at <= post.deleted_at
        statuses = fleet.mastodon.statuses(username_of(town.code or ""), include_deleted=True)
        [status] = [s for s in statuses if s.in_reply_to_id is None]
        [answer] = [s for s in statuses if s.in_reply_to_id]
        assert answer.deleted_at is not None and status.deleted_at is not None
        assert answer.deleted_at <= status.deleted_at
    progress = await hub.dispatch.progress(fleet.announcement.id)
    assert (progress.retracted, progress.waiting) == (2 * len(CODES), 0)


async def test_a_followup_is_checked_like_the_main_text(make_fleet: MakeFleet) -> None:
    fleet = await make_fleet(lead=60)
    hub, announcement_id = fleet.hub, fleet.announcement.id
    await hub.announcements.unlock(COORDINATOR, announcement_id)
    with pytest.raises(InvalidInput) as unknown:
        await hub.threads.set_followup(COORDINATOR, announcement_id, "Plus d'infos : {vile}")
    assert "{vile}" in unknown.value.message("fr")
    with pytest.raises(TextDoesNotFit) as over:
        await hub.threads.set_followup(COORDINATOR, announcement_id, "x" * 301)
    assert "Suite en fil — Bluesky" in over.value.message("fr") and "raccourcir de 1" in over.value.message("fr")
    change = await hub.threads.set_followup(COORDINATOR, announcement_id, FOLLOWUP)
    assert change.followup is not None and change.followup.text == FOLLOWUP
    assert len(change.reset) == len(CODES)  # posted in their name: the towns sign again
    short = await hub.threads.set_followup(COORDINATOR, announcement_id, "Infos : {site}", Platform.BLUESKY)
    assert short.followup is not None and short.followup.for_platform(Platform.BLUESKY) == "Infos : {site}"
    entries = [
        e for e in await hub.audit.entries(announcement_id=announcement_id) if e.action == "announcement.followup"
    ]
    assert len(entries) == 2


# --- the Mastodon double's replies -----------------------------------------------------------------------


@BOTH
async def test_the_mastodon_double_answers_in_reply_to_id_like_its_server(personality: Personality) -> None:
    double = MastodonDouble(seed=1, personality=personality)
    double.add_account("mairie")
    token = double.issue_token("mairie")
    headers = {"Authorization": f"Bearer {token}"}
    async with double.serve() as base, aiohttp.ClientSession(base_url=base, headers=headers) as http:
        async with http.post("/api/v1/statuses", data={"status": "Départ"}) as answer:
            parent = await answer.json()
        async with http.post("/api/v1/statuses", data={"status": "Suite", "in_reply_to_id": parent["id"]}) as answer:
            reply = await answer.json()
        assert reply["in_reply_to_id"] == parent["id"]
        assert reply["in_reply_to_account_id"] == parent["account"]["id"]
        async with http.get(f"/api/v1/statuses/{parent['id']}") as answer:
            assert (await answer.json())["replies_count"] == 1
        account_id = parent["account"]["id"]
        async with http.get(f"/api/v1/accounts/{account_id}/statuses", params={"exclude_replies": "true"}) as answer:
            assert [s["id"] for s in await answer.json()] == [reply["id"], parent["id"]]  # a self-reply stays
        async with http.delete(f"/api/v1/statuses/{parent['id']}") as answer:
            assert answer.status == 200
        async with http.post("/api/v1/statuses", data={"status": "Encore", "in_reply_to_id": parent["id"]}) as answer:
            assert answer.status == 404
            if personality is MASTODON:
                assert "does not appear to exist" in (await answer.json())["error"]


# --- pinned on the town's profile --------------------------------------------------------------------------


@BOTH
async def test_each_post_is_pinned_after_it_and_unpinned_before_it_is_deleted(
    make_fleet: MakeFleet, personality: Personality
) -> None:
    fleet = await make_fleet(
        mastodon_options={"personality": personality}, fleet_options={"followup": FOLLOWUP, "pin": True}
    )
    hub = fleet.hub
    assert fleet.bluesky is not None and fleet.mastodon is not None
    async with running(hub):
        assert await settled(hub, fleet.announcement.id) is AnnouncementState.PUBLISHED
        for town in fleet.towns:
            [post], _ = bluesky_thread(fleet, town.id)
            profile = fleet.bluesky.profile(fleet.dids[town.id])
            assert profile is not None and profile["pinnedPost"]["uri"] == post.uri
            assert profile["pinnedPost"]["cid"] == post.cid
            [status], _ = mastodon_thread(fleet, town.code or "")
            assert [s.id for s in fleet.mastodon.pinned(username_of(town.code or ""))] == [status.id]
        outcomes = await hub.dispatch.outcomes(fleet.announcement.id)
        assert all(o.pin is not None and o.pin.state is DeliveryState.PUBLISHED for o in outcomes)
        await hub.dispatch.retract(COORDINATOR, fleet.announcement.id)
        assert await settled(hub, fleet.announcement.id) is AnnouncementState.RETRACTED

    for town in fleet.towns:
        profile = fleet.bluesky.profile(fleet.dids[town.id])
        assert profile is not None and "pinnedPost" not in profile  # none before ours: none after
        assert fleet.mastodon.pinned(username_of(town.code or "")) == []
    outcomes = await hub.dispatch.outcomes(fleet.announcement.id)
    assert all(o.pin is not None and o.pin.state is DeliveryState.RETRACTED for o in outcomes)


async def test_a_token_without_write_accounts_posts_but_does_not_pin_and_the_town_is_told(
    make_fleet: MakeFleet,
) -> None:
    fleet = await make_fleet(lead=3, fleet_options={"pin": True})
    hub, town = fleet.hub, fleet.towns[0]
    assert fleet.mastodon is not None
    fleet.mastodon.issue_token(
        username_of(town.code or ""), ("read", "write:statuses", "write:media"), value=fleet.tokens[town.id]
    )
    async with running(hub):
        assert await settled(hub, fleet.announcement.id) is AnnouncementState.PUBLISHED

    outcomes = await hub.dispatch.outcomes(fleet.announcement.id)
    [refused] = [o for o in outcomes if o.pin is not None and o.pin.state is DeliveryState.FAILED]
    assert refused.town.id == town.id and refused.delivery.platform is Platform.MASTODON
    assert refused.delivery.state is DeliveryState.PUBLISHED and refused.delivery.attempts == 1
    assert refused.pin is not None and refused.pin.error is not None
    assert refused.pin.error.key == "publish.pin.scope" and refused.pin.error.reconnect
    assert len(fleet.mastodon.statuses(username_of(town.code or ""))) == 1
    reports = [r for r in await hub.dispatch.reports() if r.kind is ReportKind.DELIVERY_FAILED]
    assert [(r.town_id, r.problem.key if r.problem else None) for r in reports] == [(town.id, "publish.pin.scope")]


@BOTH
async def test_the_mastodon_double_pins_like_its_server(personality: Personality) -> None:
    double = MastodonDouble(seed=1, personality=personality, max_pinned_statuses=2)
    double.add_account("mairie")
    token = double.issue_token("mairie")
    narrow = double.issue_token("mairie", ("read", "write:statuses"))
    async with double.serve() as base, aiohttp.ClientSession(base_url=base) as http:
        auth = {"Authorization": f"Bearer {token}"}
        ids = []
        for text in ("un", "deux", "trois"):
            async with http.post("/api/v1/statuses", data={"status": text}, headers=auth) as answer:
                ids.append((await answer.json())["id"])
        async with http.post(f"/api/v1/statuses/{ids[0]}/pin", headers={"Authorization": f"Bearer {narrow}"}) as a:
            assert a.status == 403
        async with http.post(f"/api/v1/statuses/{ids[0]}/pin", headers=auth) as answer:
            assert answer.status == 200 and (await answer.json())["pinned"] is True
        async with http.post(f"/api/v1/statuses/{ids[0]}/pin", headers=auth) as answer:
            assert answer.status == 422 and (await answer.json())["error"] == "Duplicate record"
        async with http.post(f"/api/v1/statuses/{ids[1]}/pin", headers=auth) as answer:
            assert answer.status == 200
        async with http.post(f"/api/v1/statuses/{ids[2]}/pin", headers=auth) as answer:
            assert answer.status == 422 and "maximum number" in (await answer.json())["error"]
        account_id = double.account("mairie").id
        async with http.get(f"/api/v1/accounts/{account_id}/statuses", params={"pinned": "true"}, headers=auth) as a:
            assert [s["id"] for s in await a.json()] == [ids[1], ids[0]]
        async with http.post(f"/api/v1/statuses/{ids[1]}/unpin", headers=auth) as answer:
            assert answer.status == 200 and (await answer.json())["pinned"] is False
        async with http.get(f"/api/v1/statuses/{ids[0]}", headers=auth) as answer:
            assert (await answer.json())["pinned"] is True

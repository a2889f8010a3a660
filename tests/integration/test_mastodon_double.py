"""The Mastodon double answers each documented point as Mastodon does, seen from a plain HTTP client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sandbox.mastodon import (
    CREATE_STATUS,
    MASTODON,
    TAKAHE,
    MastodonDouble,
    RateLimits,
    Window,
    status_length,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64
GIF = b"GIF89a" + b"\x00" * 64
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Reply:
    status: int
    body: Any
    headers: Any


@dataclass
class Server:
    double: MastodonDouble
    base: str
    session: aiohttp.ClientSession
    alice: str
    bob: str

    async def call(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> Reply:
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        async with self.session.request(method, path, headers=headers, **kwargs) as response:
            text = await response.text()
            is_json = response.content_type == "application/json"
            return Reply(response.status, json.loads(text) if is_json else text, response.headers)

    async def post(self, text: str, token: str | None = None, key: str | None = None, **fields: Any) -> Reply:
        headers = {"Idempotency-Key": key} if key else {}
        body = {"status": text, **fields}
        return await self.call("POST", "/api/v1/statuses", token or self.alice, json=body, headers=headers)

    async def upload(
        self, content: bytes, content_type: str, description: str | None = None, token: str | None = None
    ) -> Reply:
        form = aiohttp.FormData()
        form.add_field("file", content, filename="file", content_type=content_type)
        if description is not None:
            form.add_field("description", description)
        form.add_field("focus", "0.5,-0.25")
        return await self.call("POST", "/api/v2/media", token or self.alice, data=form)


MakeServer = Callable[..., Awaitable[Server]]


@pytest.fixture
async def make_server() -> AsyncIterator[MakeServer]:
    async with contextlib.AsyncExitStack() as stack:

        async def make(**settings: Any) -> Server:
            double = MastodonDouble(seed=1, **settings)
            double.add_account("alice", language="fr")
            double.add_account("bob")
            base = await stack.enter_async_context(double.serve())
            session = await stack.enter_async_context(aiohttp.ClientSession(base))
            return Server(double, base, session, double.issue_token("alice"), double.issue_token("bob"))

        yield make


@pytest.fixture
async def server(make_server: MakeServer) -> Server:
    return await make_server(media_processing_seconds=60)


def in_minutes(double: MastodonDouble, minutes: float) -> str:
    return (double.now() + timedelta(minutes=minutes)).isoformat()


# --- instance and account ----------------------------------------------------------------------------


async def test_instance_reports_the_configured_limits(make_server: MakeServer) -> None:
    server = await make_server(max_characters=1000)
    reply = await server.call("GET", "/api/v2/instance")
    statuses = reply.body["configuration"]["statuses"]
    media = reply.body["configuration"]["media_attachments"]
    assert statuses == {"max_characters": 1000, "max_media_attachments": 4, "characters_reserved_per_url": 23}
    assert media["description_limit"] == 1500
    assert "image/png" in media["supported_mime_types"]
    assert media["image_size_limit"] > 0 and media["image_matrix_limit"] > 0


async def test_verify_credentials_names_the_token_owner(server: Server) -> None:
    reply = await server.call("GET", "/api/v1/accounts/verify_credentials", server.alice)
    assert reply.status == 200
    assert reply.body["username"] == "alice"
    assert reply.body["source"]["language"] == "fr"


# --- length ------------------------------------------------------------------------------------------


async def test_a_status_exactly_at_the_limit_is_accepted_and_one_more_is_refused(server: Server) -> None:
    assert (await server.post("é" * 500)).status == 200
    reply = await server.post("é" * 501)
    assert reply.status == 422
    assert reply.body == {"error": "Validation failed: Text character limit of 500 exceeded"}


async def test_length_counts_graphemes_not_code_points(server: Server) -> None:
    decomposed = "e\u0301" * 500  # 1,000 code points, 500 graphemes
    family = "👨\u200d👩\u200d👧"
    assert (await server.post(decomposed)).status == 200
    assert (await server.post(family * 500)).status == 200
    assert (await server.post(family * 501)).status == 422


async def test_each_url_counts_23_whatever_its_length(server: Server) -> None:
    url = "https://www.ville-exemple.fr/actualites/" + "a" * 300
    text = "a" * 476 + " " + url  # 476 + 1 + 23 = 500
    assert status_length(text) == 500
    assert (await server.post(text)).status == 200
    assert (await server.post("a" + text)).status == 422


async def test_bare_domains_are_not_shortened(server: Server) -> None:
    domain = "ville-exemple-avec-un-tres-long-nom.fr"
    assert (await server.post("a" * (500 - len(domain)) + domain)).status == 200
    assert (await server.post("a" * (501 - len(domain)) + domain)).status == 422


async def test_a_remote_mention_counts_only_the_user_part(server: Server) -> None:
    mention = "@mairie@un-serveur-mastodon-tres-long.example"
    text = "a" * 492 + " " + mention  # counts 492 + 1 + len("@mairie") = 500
    assert status_length(text) == 500
    assert (await server.post(text)).status == 200
    assert (await server.post("a" + text)).status == 422


async def test_the_spoiler_counts_towards_the_limit(server: Server) -> None:
    assert (await server.post("a" * 490, spoiler_text="b" * 10)).status == 200
    reply = await server.post("a" * 490, spoiler_text="b" * 11)
    assert reply.status == 422


async def test_form_bodies_are_counted_the_same(server: Server) -> None:
    ok = await server.call("POST", "/api/v1/statuses", server.alice, data={"status": "a" * 500})
    too_long = await server.call("POST", "/api/v1/statuses", server.alice, data={"status": "a" * 501})
    assert (ok.status, too_long.status) == (200, 422)


async def test_a_blank_text_without_media_is_refused(server: Server) -> None:
    reply = await server.post("   ")
    assert reply.status == 422
    assert reply.body == {"error": "Validation failed: Text can't be blank"}


# --- statuses ----------------------------------------------------------------------------------------


async def test_a_status_carries_its_identity_and_settings(server: Server) -> None:
    reply = await server.post("Bonjour <b>https://ville.fr</b>", language="fr", visibility="unlisted")
    body = reply.body
    assert reply.status == 200
    assert body["url"] == f"{server.base}/@alice/{body['id']}"
    assert body["uri"].endswith(f"/users/alice/statuses/{body['id']}")
    assert (body["language"], body["visibility"], body["account"]["username"]) == ("fr", "unlisted", "alice")
    assert "&lt;b&gt;" in body["content"] and 'href="https://ville.fr"' in body["content"]
    assert datetime.fromisoformat(body["created_at"]) <= server.double.now()
    assert [s.id for s in server.double.statuses("alice")] == [body["id"]]


async def test_status_ids_increase(server: Server) -> None:
    first = await server.post("un")
    second = await server.post("deux")
    assert int(second.body["id"]) > int(first.body["id"])


async def test_delete_returns_the_source_text_and_then_404(server: Server) -> None:
    posted = await server.post("À supprimer")
    path = f"/api/v1/statuses/{posted.body['id']}"
    deleted = await server.call("DELETE", path, server.alice)
    assert deleted.status == 200
    assert deleted.body["text"] == "À supprimer" and deleted.body["id"] == posted.body["id"]
    assert (await server.call("DELETE", path, server.alice)).body == {"error": "Record not found"}
    assert (await server.call("GET", path, server.alice)).status == 404
    assert server.double.statuses("alice") == []
    assert len(server.double.statuses("alice", include_deleted=True)) == 1


async def test_nobody_deletes_another_accounts_status(server: Server) -> None:
    posted = await server.post("À Alice")
    reply = await server.call("DELETE", f"/api/v1/statuses/{posted.body['id']}", server.bob)
    assert (reply.status, reply.body) == (404, {"error": "Record not found"})
    assert (await server.call("DELETE", "/api/v1/statuses/12345", server.alice)).status == 404


async def test_get_status_hides_private_ones_from_others(server: Server) -> None:
    public = await server.post("public")
    private = await server.post("privé", visibility="private")
    assert (await server.call("GET", f"/api/v1/statuses/{public.body['id']}")).status == 200
    assert (await server.call("GET", f"/api/v1/statuses/{private.body['id']}", server.bob)).status == 404
    assert (await server.call("GET", f"/api/v1/statuses/{private.body['id']}", server.alice)).status == 200


async def _alice_statuses(server: Server, token: str | None = None, **query: Any) -> Reply:
    account_id = server.double.account("alice").id
    return await server.call("GET", f"/api/v1/accounts/{account_id}/statuses", token, params=query)


async def test_account_statuses_are_listed_newest_first_and_paged_by_id(server: Server) -> None:
    ids = [(await server.post(f"n°{n}")).body["id"] for n in range(45)]
    first = await _alice_statuses(server, server.alice)
    assert [s["id"] for s in first.body] == ids[::-1][:20]
    widest = await _alice_statuses(server, server.alice, limit="100")
    assert [s["id"] for s in widest.body] == ids[::-1][:40]
    older = await _alice_statuses(server, server.alice, limit="5", max_id=ids[10])
    assert [s["id"] for s in older.body] == ids[5:10][::-1]
    newer = await _alice_statuses(server, server.alice, limit="5", since_id=ids[10])
    assert [s["id"] for s in newer.body] == ids[40:45][::-1]
    just_after = await _alice_statuses(server, server.alice, limit="5", min_id=ids[10])
    assert [s["id"] for s in just_after.body] == ids[11:16][::-1]


async def test_account_statuses_link_to_the_next_and_previous_pages(server: Server) -> None:
    ids = [(await server.post(f"n°{n}")).body["id"] for n in range(3)]
    full = await _alice_statuses(server, server.alice, limit="2")
    assert f'max_id={ids[1]}>; rel="next"' in full.headers["Link"]
    assert f'min_id={ids[2]}>; rel="prev"' in full.headers["Link"]
    last = await _alice_statuses(server, server.alice, limit="2", max_id=ids[1])
    assert "next" not in last.headers["Link"]
    assert "Link" not in (await _alice_statuses(server, server.alice, max_id=ids[0])).headers


async def test_account_statuses_hide_private_and_deleted_ones_from_others(server: Server) -> None:
    public = await server.post("public")
    private = await server.post("privé", visibility="private")
    deleted = await server.post("supprimé")
    await server.call("DELETE", f"/api/v1/statuses/{deleted.body['id']}", server.alice)
    own = [s["id"] for s in (await _alice_statuses(server, server.alice)).body]
    assert own == [private.body["id"], public.body["id"]]
    for viewer in (server.bob, None):
        assert [s["id"] for s in (await _alice_statuses(server, viewer)).body] == [public.body["id"]]


async def test_account_statuses_check_a_given_token_but_need_no_user(server: Server) -> None:
    await server.post("public")
    server.double.disable_account("alice")
    assert (await _alice_statuses(server, server.alice)).status == 200
    app = server.double.issue_app_token()
    assert (await _alice_statuses(server, app)).status == 200
    assert (await _alice_statuses(server, "inconnu")).status == 401
    no_read = server.double.issue_token("bob", scopes=("write",))
    assert (await _alice_statuses(server, no_read)).status == 403
    reply = await server.call("GET", "/api/v1/accounts/999/statuses", server.bob)
    assert (reply.status, reply.body) == (404, {"error": "Record not found"})


async def test_account_statuses_filter_media_and_pins(server: Server) -> None:
    media = await server.upload(PNG, "image/png")
    with_media = await server.post("", media_ids=[media.body["id"]])
    await server.post("texte seul")
    only_media = await _alice_statuses(server, server.alice, only_media="true")
    assert [s["id"] for s in only_media.body] == [with_media.body["id"]]
    assert (await _alice_statuses(server, server.alice, pinned="true")).body == []


# --- idempotency -------------------------------------------------------------------------------------


async def test_a_replay_returns_the_original_and_ignores_the_new_body(server: Server) -> None:
    first = await server.post("Original", key="k1")
    replay = await server.post("Autre texte" + "x" * 600, key="k1")
    assert (replay.status, replay.body["id"]) == (200, first.body["id"])
    assert "Original" in replay.body["content"]
    assert len(server.double.statuses("alice")) == 1


async def test_keys_belong_to_one_account(server: Server) -> None:
    await server.post("Alice", key="shared")
    bob = await server.post("Bob", token=server.bob, key="shared")
    assert "Bob" in bob.body["content"]
    assert len(server.double.statuses("bob")) == 1


async def test_a_key_is_forgotten_after_an_hour(server: Server) -> None:
    first = await server.post("Premier", key="k")
    server.double.advance(3599)
    assert (await server.post("Premier", key="k")).body["id"] == first.body["id"]
    server.double.advance(2)
    again = await server.post("Premier", key="k")
    assert again.body["id"] != first.body["id"]
    assert len(server.double.statuses("alice")) == 2


async def test_a_refused_request_does_not_store_its_key(server: Server) -> None:
    assert (await server.post("a" * 501, key="k")).status == 422
    accepted = await server.post("court", key="k")
    assert accepted.status == 200
    assert len(server.double.statuses("alice")) == 1


async def test_a_replay_of_a_deleted_status_is_404(server: Server) -> None:
    posted = await server.post("Bientôt supprimé", key="k")
    await server.call("DELETE", f"/api/v1/statuses/{posted.body['id']}", server.alice)
    replay = await server.post("Bientôt supprimé", key="k")
    assert (replay.status, replay.body) == (404, {"error": "Record not found"})


async def test_a_replay_of_a_scheduled_status_returns_the_scheduled_status(server: Server) -> None:
    when = in_minutes(server.double, 60)
    first = await server.post("Plus tard", key="k", scheduled_at=when)
    replay = await server.post("Plus tard", key="k", scheduled_at=when)
    assert replay.status == 200
    assert replay.body["id"] == first.body["id"] and "params" in replay.body
    assert len(server.double.scheduled_statuses("alice")) == 1


async def test_concurrent_requests_with_one_key_create_one_status(make_server: MakeServer) -> None:
    server = await make_server(status_create_seconds=0.05)
    replies = await asyncio.gather(*(server.post("Une seule fois", key="same") for _ in range(10)))
    assert {r.status for r in replies} == {200}
    assert len({r.body["id"] for r in replies}) == 1
    assert len(server.double.statuses("alice")) == 1


async def test_concurrent_requests_without_a_key_each_create_a_status(make_server: MakeServer) -> None:
    server = await make_server(status_create_seconds=0.05)
    await asyncio.gather(*(server.post("Sans clé") for _ in range(5)))
    assert len(server.double.statuses("alice")) == 5


# --- scheduling --------------------------------------------------------------------------------------


async def test_a_past_scheduled_at_posts_at_once(server: Server) -> None:
    reply = await server.post("Tout de suite", scheduled_at=in_minutes(server.double, -1))
    assert reply.status == 200 and "content" in reply.body
    assert len(server.double.statuses("alice")) == 1


async def test_scheduling_within_five_minutes_is_refused(server: Server) -> None:
    reply = await server.post("Trop tôt", scheduled_at=in_minutes(server.double, 4))
    assert reply.status == 422
    assert reply.body["error"].startswith("Validation failed: ")
    assert server.double.scheduled_statuses("alice") == []


async def test_a_later_time_gives_a_scheduled_status_published_when_due(server: Server) -> None:
    reply = await server.post("Demain", scheduled_at=in_minutes(server.double, 10), language="fr")
    body = reply.body
    assert reply.status == 200
    assert set(body) == {"id", "scheduled_at", "params", "media_attachments"}
    assert body["params"]["text"] == "Demain"
    path = f"/api/v1/scheduled_statuses/{body['id']}"
    assert (await server.call("GET", path, server.alice)).body["id"] == body["id"]
    assert server.double.statuses("alice") == []
    server.double.advance(11 * 60)
    assert [s.text for s in server.double.statuses("alice")] == ["Demain"]
    assert (await server.call("GET", path, server.alice)).status == 404


async def test_a_due_status_is_published_on_the_next_request(server: Server) -> None:
    await server.post("Plus tard", scheduled_at=in_minutes(server.double, 10))
    server.double.advance(11 * 60, publish=False)
    assert server.double.statuses("alice") == []
    await server.call("GET", "/api/v2/instance")
    assert len(server.double.statuses("alice")) == 1


async def test_a_due_status_is_published_by_the_background_sweep(make_server: MakeServer) -> None:
    server = await make_server(scheduler_interval=0.01)
    await server.post("Plus tard", scheduled_at=in_minutes(server.double, 10))
    server.double.advance(11 * 60, publish=False)
    for _ in range(500):
        if server.double.statuses("alice"):
            break
        await asyncio.sleep(0.01)
    assert len(server.double.statuses("alice")) == 1


async def test_a_cancelled_scheduled_status_is_never_published(server: Server) -> None:
    reply = await server.post("Annulé", scheduled_at=in_minutes(server.double, 10))
    path = f"/api/v1/scheduled_statuses/{reply.body['id']}"
    assert (await server.call("DELETE", path, server.alice)).status == 200
    assert (await server.call("GET", path, server.alice)).status == 404
    server.double.advance(3600)
    assert server.double.statuses("alice") == []


async def test_at_most_25_scheduled_per_day(make_server: MakeServer) -> None:
    server = await make_server()
    day = (server.double.now() + timedelta(days=2)).replace(hour=8, minute=0, tzinfo=UTC)
    for minute in range(25):
        at = (day + timedelta(minutes=minute)).isoformat()
        assert (await server.post(f"n°{minute}", scheduled_at=at)).status == 200
    refused = await server.post("en trop", scheduled_at=(day + timedelta(hours=2)).isoformat())
    next_day = await server.post("lendemain", scheduled_at=(day + timedelta(days=1)).isoformat())
    assert (refused.status, next_day.status) == (422, 200)
    assert "25" in refused.body["error"]


async def test_at_most_300_scheduled_in_total_by_default(make_server: MakeServer) -> None:
    server = await make_server(rate_limits=RateLimits(enabled=False))
    start = server.double.now() + timedelta(days=1)
    for n in range(300):
        at = (start + timedelta(days=n // 25, minutes=n % 25)).isoformat()
        assert (await server.post(f"n°{n}", scheduled_at=at)).status == 200
    refused = await server.post("en trop", scheduled_at=(start + timedelta(days=40)).isoformat())
    assert refused.status == 422 and "300" in refused.body["error"]


# --- media -------------------------------------------------------------------------------------------


async def test_a_still_image_is_ready_at_once(server: Server) -> None:
    reply = await server.upload(PNG, "image/png", description="Affiche de la fête")
    assert reply.status == 200
    assert reply.body["type"] == "image" and reply.body["url"].startswith("http://127.0.0.1")
    assert reply.body["meta"]["focus"] == {"x": 0.5, "y": -0.25}
    posted = await server.post("Avec image", media_ids=[reply.body["id"]])
    assert posted.status == 200
    assert posted.body["media_attachments"][0]["description"] == "Affiche de la fête"


async def test_a_media_only_status_needs_no_text(server: Server) -> None:
    media = await server.upload(PNG, "image/png")
    assert (await server.post("", media_ids=[media.body["id"]])).status == 200


async def test_video_is_processed_then_attachable(server: Server) -> None:
    reply = await server.upload(MP4, "video/mp4")
    assert (reply.status, reply.body["url"], reply.body["type"]) == (202, None, "video")
    path = f"/api/v1/media/{reply.body['id']}"
    assert (await server.call("GET", path, server.alice)).status == 206
    refused = await server.post("Trop tôt", media_ids=[reply.body["id"]])
    assert refused.status == 422
    assert refused.body["error"] == "Cannot attach files that have not finished processing. Try again in a moment!"
    server.double.advance(61)
    done = await server.call("GET", path, server.alice)
    assert done.status == 200 and done.body["url"] is not None
    assert (await server.post("Prêt", media_ids=[reply.body["id"]])).status == 200


async def test_a_gif_is_processed_as_gifv(server: Server) -> None:
    reply = await server.upload(GIF, "image/gif")
    assert (reply.status, reply.body["type"], reply.body["url"]) == (202, "gifv", None)


async def test_attached_unknown_and_foreign_media_are_refused(server: Server) -> None:
    media = (await server.upload(PNG, "image/png")).body["id"]
    assert (await server.post("Une fois", media_ids=[media])).status == 200
    again = await server.post("Deux fois", media_ids=[media])
    unknown = await server.post("Inconnu", media_ids=["999"])
    foreign = await server.post(
        "Pas à Bob", token=server.bob, media_ids=[(await server.upload(PNG, "image/png")).body["id"]]
    )
    assert (again.status, unknown.status, foreign.status) == (422, 422, 422)
    assert "999" in unknown.body["error"]


async def test_more_than_four_attachments_are_refused(server: Server) -> None:
    ids = [(await server.upload(PNG, "image/png")).body["id"] for _ in range(5)]
    assert (await server.post("Cinq", media_ids=ids)).status == 422
    assert (await server.post("Quatre", media_ids=ids[:4])).status == 200


async def test_a_long_description_is_refused(server: Server) -> None:
    assert (await server.upload(PNG, "image/png", description="d" * 1500)).status == 200
    reply = await server.upload(PNG, "image/png", description="d" * 1501)
    assert reply.status == 422 and "1500" in reply.body["error"]


async def test_an_unsupported_file_is_refused(server: Server) -> None:
    assert (await server.upload(b"%PDF-1.7", "application/pdf")).status == 422


async def test_a_scheduled_status_keeps_its_media(server: Server) -> None:
    media = (await server.upload(PNG, "image/png")).body["id"]
    scheduled = await server.post("Plus tard", media_ids=[media], scheduled_at=in_minutes(server.double, 10))
    assert scheduled.body["media_attachments"][0]["id"] == media
    assert (await server.post("Vol", media_ids=[media])).status == 422
    server.double.advance(11 * 60)
    assert [m.id for m in server.double.statuses("alice")[0].media] == [media]


# --- rate limits -------------------------------------------------------------------------------------


async def test_authenticated_answers_carry_rate_limit_headers(server: Server) -> None:
    first = await server.call("GET", "/api/v1/accounts/verify_credentials", server.alice)
    second = await server.call("GET", "/api/v1/accounts/verify_credentials", server.alice)
    assert first.headers["X-RateLimit-Limit"] == "300"
    assert int(second.headers["X-RateLimit-Remaining"]) == int(first.headers["X-RateLimit-Remaining"]) - 1
    reset = datetime.fromisoformat(first.headers["X-RateLimit-Reset"])
    assert server.double.now() < reset <= server.double.now() + timedelta(minutes=5)
    status = await server.post("Bonjour")
    assert status.headers["X-RateLimit-Limit"] == "300" and status.headers["X-RateLimit-Remaining"] == "299"
    assert "X-RateLimit-Limit" not in (await server.call("GET", "/api/v2/instance")).headers


async def test_over_the_limit_is_429_until_the_window_ends(make_server: MakeServer) -> None:
    server = await make_server(rate_limits=RateLimits(per_token=Window(3, 3600)))
    for _ in range(3):
        assert (await server.post("ok")).status == 200
    refused = await server.post("de trop")
    assert (refused.status, refused.body) == (429, {"error": "Too many requests"})
    assert refused.headers["X-RateLimit-Remaining"] == "0" and "Retry-After" not in refused.headers
    assert len(server.double.statuses("alice")) == 3
    assert (await server.post("autre compte", token=server.bob)).status == 200
    server.double.advance(3600)
    assert (await server.post("nouvelle fenêtre")).status == 200


async def test_status_creation_has_its_own_window(make_server: MakeServer) -> None:
    server = await make_server(rate_limits=RateLimits(statuses=Window(2, 3 * 3600)))
    assert [(await server.post(f"n°{n}", key=f"k{n}")).status for n in range(3)] == [200, 200, 429]
    replay = await server.post("n°0", key="k0")
    assert replay.status == 200
    assert (await server.call("GET", "/api/v1/accounts/verify_credentials", server.alice)).status == 200


async def test_media_uploads_have_their_own_window(make_server: MakeServer) -> None:
    server = await make_server(rate_limits=RateLimits(media=Window(2, 1800)))
    statuses = [(await server.upload(PNG, "image/png")).status for _ in range(3)]
    assert statuses == [200, 200, 429]


async def test_deletes_have_their_own_window(make_server: MakeServer) -> None:
    server = await make_server(rate_limits=RateLimits(deletes=Window(1, 1800)))
    ids = [(await server.post(f"n°{n}")).body["id"] for n in range(2)]
    codes = [(await server.call("DELETE", f"/api/v1/statuses/{i}", server.alice)).status for i in ids]
    assert codes == [200, 429]


# --- authentication ----------------------------------------------------------------------------------


async def test_missing_and_unknown_tokens_are_401(server: Server) -> None:
    missing = await server.call("POST", "/api/v1/statuses", json={"status": "x"})
    unknown = await server.post("x", token="nope")
    expected = {"error": "The access token is invalid"}
    assert (missing.status, missing.body, unknown.status, unknown.body) == (401, expected, 401, expected)


async def test_a_revoked_token_is_401(server: Server) -> None:
    server.double.revoke_token(server.alice)
    reply = await server.post("x")
    assert (reply.status, reply.body) == (401, {"error": "The access token was revoked"})


async def test_an_app_token_cannot_post(server: Server) -> None:
    app_token = server.double.issue_app_token(("read", "write"))
    reply = await server.post("x", token=app_token)
    assert (reply.status, reply.body) == (422, {"error": "This method requires an authenticated user"})


async def test_a_token_without_the_scope_is_403(server: Server) -> None:
    read_only = server.double.issue_token("alice", ("read",))
    granular = server.double.issue_token("alice", ("write:statuses",))
    reply = await server.post("x", token=read_only)
    assert (reply.status, reply.body) == (403, {"error": "This action is outside the authorized scopes"})
    assert (await server.post("x", token=granular)).status == 200
    assert (await server.upload(PNG, "image/png")).status == 200
    media_denied = await server.upload(PNG, "image/png", token=granular)
    assert media_denied.status == 403


async def test_a_disabled_account_is_403(server: Server) -> None:
    server.double.disable_account("alice")
    reply = await server.post("x")
    assert (reply.status, reply.body) == (403, {"error": "Your login is currently disabled"})
    server.double.disable_account("alice", False)
    assert (await server.post("x")).status == 200


# --- fault injection ---------------------------------------------------------------------------------


async def test_server_errors_by_count(server: Server) -> None:
    fault = server.double.inject("server_error", count=2, status=503, on=CREATE_STATUS)
    codes = [(await server.post("x")).status for _ in range(3)]
    assert codes == [503, 503, 200]
    assert fault.fired == 2
    assert len(server.double.statuses("alice")) == 1
    assert (await server.call("GET", "/api/v2/instance")).status == 200


async def test_server_errors_by_fraction(server: Server) -> None:
    server.double.inject("server_error", count=None, fraction=0.5, status=500)
    codes = [(await server.call("GET", "/api/v2/instance")).status for _ in range(40)]
    assert 0 < codes.count(500) < 40 and set(codes) == {200, 500}


async def test_a_timeout_holds_then_drops_without_posting(server: Server) -> None:
    server.double.inject("timeout", seconds=30, on=CREATE_STATUS)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await server.post("x")
    assert server.double.statuses("alice") == []
    assert (await server.post("x")).status == 200


async def test_a_short_timeout_drops_the_connection(server: Server) -> None:
    server.double.inject("timeout", seconds=0.01)
    with pytest.raises(aiohttp.ClientError):
        await server.post("x")
    assert server.double.statuses("alice") == []


async def test_latency_delays_answers(server: Server) -> None:
    fault = server.double.inject("latency", count=1, seconds=5)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await server.call("GET", "/api/v2/instance")
    assert fault.fired == 1
    assert (await server.call("GET", "/api/v2/instance")).status == 200


async def test_a_forced_429(server: Server) -> None:
    server.double.inject("rate_limit", on=CREATE_STATUS)
    reply = await server.post("x")
    assert (reply.status, reply.body) == (429, {"error": "Too many requests"})
    assert reply.headers["X-RateLimit-Remaining"] == "0"
    assert server.double.statuses("alice") == []


async def test_commit_then_reset_posts_but_the_client_sees_a_reset(server: Server) -> None:
    server.double.inject("commit_then_reset", on=CREATE_STATUS)
    with pytest.raises(aiohttp.ClientError):
        await server.post("Une fois", key="k")
    [posted] = server.double.statuses("alice")
    retry = await server.post("Une fois", key="k")
    assert (retry.status, retry.body["id"]) == (200, posted.id)
    assert len(server.double.statuses("alice")) == 1


async def test_commit_then_502_posts_but_answers_502(server: Server) -> None:
    server.double.inject("commit_then_502", on=CREATE_STATUS)
    reply = await server.post("x")
    assert reply.status == 502 and "Bad Gateway" in reply.body
    assert len(server.double.statuses("alice")) == 1


async def test_commit_then_timeout_posts_but_never_answers(server: Server) -> None:
    server.double.inject("commit_then_timeout", seconds=30, on=CREATE_STATUS)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await server.post("x")
    assert len(server.double.statuses("alice")) == 1


async def test_faults_can_be_cleared_at_run_time(server: Server) -> None:
    server.double.inject("server_error", count=None)
    assert (await server.post("x")).status == 503
    server.double.clear_faults()
    assert (await server.post("x")).status == 200


# --- many at once and running alone ------------------------------------------------------------------


async def test_many_concurrent_posts_are_all_recorded(make_server: MakeServer) -> None:
    server = await make_server()
    tokens = []
    for n in range(20):
        server.double.add_account(f"ville{n}")
        tokens.append(server.double.issue_token(f"ville{n}"))
    replies = await asyncio.gather(
        *(server.post(f"Annonce {i}", token=tokens[i % 20], key=f"k{i}") for i in range(400))
    )
    assert {r.status for r in replies} == {200}
    assert sum(len(server.double.statuses(f"ville{n}")) for n in range(20)) == 400


async def test_it_runs_alone_from_the_command_line() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sandbox.mastodon",
        "--port",
        "0",
        "--account",
        "mairie:secret-token",
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        started = json.loads(await asyncio.wait_for(process.stdout.readline(), 30))
        assert started["tokens"] == {"mairie": "secret-token"}
        headers = {"Authorization": "Bearer secret-token"}
        async with aiohttp.ClientSession() as session:
            url = started["base_url"] + "/api/v1/accounts/verify_credentials"
            async with session.get(url, headers=headers) as response:
                assert response.status == 200
                assert (await response.json())["username"] == "mairie"
    finally:
        process.terminate()
        await process.wait()


# --- the Takahē personality (points T1 and T2) -----------------------------------------------------------


@pytest.fixture
async def takahe(make_server: MakeServer) -> Server:
    return await make_server(personality=TAKAHE)


async def test_both_personalities_name_their_software_in_nodeinfo_and_the_instance(make_server: MakeServer) -> None:
    for personality, name, version in ((MASTODON, "mastodon", "4.3.0"), (TAKAHE, "takahe", "takahe/0.11.0")):
        server = await make_server(personality=personality)
        links = (await server.call("GET", "/.well-known/nodeinfo")).body["links"]
        document = (await server.call("GET", links[0]["href"])).body
        assert document["software"]["name"] == name
        assert (await server.call("GET", "/api/v2/instance")).body["version"] == version


async def test_takahe_ignores_the_idempotency_key(takahe: Server) -> None:
    first = await takahe.post("Bonjour", key="une-cle")
    second = await takahe.post("Bonjour", key="une-cle")
    assert first.status == second.status == 200 and first.body["id"] != second.body["id"]
    assert len(takahe.double.statuses("alice")) == 2


async def test_takahe_puts_the_rendered_html_in_text_and_drops_the_language(takahe: Server) -> None:
    posted = await takahe.post("Voir https://ville.fr & @bob@ailleurs.example #Unisson", language="fr")
    assert posted.body["text"] == posted.body["content"]
    assert posted.body["text"].startswith("<p>") and "&amp;" in posted.body["text"]
    assert 'class="mention hashtag"' in posted.body["text"] and "@<span>bob</span>" in posted.body["text"]
    assert posted.body["language"] is None
    listed = await takahe.call("GET", f"/api/v1/accounts/{takahe.double.account('alice').id}/statuses", takahe.alice)
    assert listed.body[0]["text"] == posted.body["content"]


async def test_takahe_sends_no_rate_limit_headers(make_server: MakeServer) -> None:
    server = await make_server(personality=TAKAHE, rate_limits=RateLimits(per_token=Window(1, 300)))
    assert not any(h.startswith("X-RateLimit") for h in (await server.post("Un")).headers)
    refused = await server.post("Deux")
    assert refused.status == 429 and not any(h.startswith("X-RateLimit") for h in refused.headers)


async def test_takahe_answers_errors_in_its_own_shapes(make_server: MakeServer) -> None:
    server = await make_server(personality=TAKAHE, max_characters=10)
    read_only = server.double.issue_token("alice", ("read",))
    bad = await server.call("POST", "/api/v1/statuses", "inconnu", json={"status": "x"})
    assert (bad.status, bad.body) == (400, "Invalid Bearer token")
    assert bad.headers["Content-Type"].startswith("text/html")
    scope = await server.post("x", token=read_only)
    assert (scope.status, scope.body) == (403, {"error": "out_of_scope_for_token"})
    long = await server.post("trop long pour ce serveur")
    assert (long.status, long.body) == (400, {"error": "Status is too long"})
    media = await server.post("x", media_ids=["4242"])
    assert media.status == 404 and "<h1>Not Found</h1>" in media.body
    missing = await server.call("DELETE", "/api/v1/statuses/4242", server.alice)
    assert missing.status == 404 and "<h1>Not Found</h1>" in missing.body
    anonymous = await server.call("GET", f"/api/v1/accounts/{server.double.account('alice').id}/statuses")
    assert (anonymous.status, anonymous.body) == (401, {"error": "identity_token_required"})


async def test_takahe_describes_its_media_limits_and_converts_still_images(takahe: Server) -> None:
    media = (await takahe.call("GET", "/api/v2/instance")).body["configuration"]["media_attachments"]
    assert "description_limit" not in media
    assert (media["image_size_limit"], media["video_size_limit"]) == (10 * 1024 * 1024, 0)
    uploaded = await takahe.upload(PNG, "image/png", "Le logo")
    assert uploaded.status == 200 and uploaded.body["url"].endswith(".webp")

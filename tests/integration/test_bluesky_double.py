"""The Bluesky double answers as the real PDS does (see test_pds.py), seen from a plain HTTP client and from
the project's own publisher."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from PIL import Image

from hub.core import Hub
from hub.crypto import SecretBox, generate_key
from hub.dispatch.gateway import StoreGateway
from hub.domain.model import Account, Credential, Platform
from hub.publishers.base import PermanentPublishError, PostImage, PostJob, Published, TransientPublishError
from hub.publishers.bluesky import BlueskyPublisher, new_tid
from hub.publishers.bluesky_content import stated_limit
from hub.settings import Settings
from hub.store import Store, migrate
from hub.store.repositories import NewDelivery
from sandbox.bluesky import (
    ACCESS_TTL,
    CREATE_RECORD,
    CREATE_SESSION,
    DID_DOCUMENT,
    GET_RECORD,
    REFRESH_GRACE,
    REFRESH_SESSION,
    UPLOAD_BLOB,
    BlueskyDouble,
    RateLimits,
    Window,
)
from tests.conftest import ADMIN, Clock
from tests.integration.helpers import PANTIN, build_coalition, propose
from tests.tools.communes_csv import pick_communes

pytestmark = pytest.mark.asyncio(loop_scope="session")

PASSWORD = "aaaa-bbbb-cccc-dddd"
# A 1×1 red PNG.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415478da63f8cfc00000030101"
    "00c9fe92ef0000000049454e44ae426082"
)
# One grapheme made of two code points (thumbs up + skin tone); a family emoji is one grapheme of 18 bytes.
THUMB = "\U0001f44d\U0001f3fd"
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
DEAD_LINK = "http://127.0.0.1:9/agenda"


@dataclass
class Reply:
    status: int
    body: Any
    headers: Any


@dataclass
class Server:
    """A running double, a plain HTTP client, and one account with an open session."""

    double: BlueskyDouble
    base: str
    http: aiohttp.ClientSession
    did: str
    access: str
    refresh: str

    async def call(self, verb: str, method: str, token: str | None = None, **kwargs: Any) -> Reply:
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        async with self.http.request(verb, f"{self.base}/xrpc/{method}", headers=headers, **kwargs) as answer:
            text = await answer.text()
            return Reply(answer.status, json.loads(text) if text[:1] == "{" else text, answer.headers)

    async def login(self, identifier: str, password: str = PASSWORD) -> Reply:
        body = {"identifier": identifier, "password": password}
        return await self.call("POST", CREATE_SESSION, json=body)

    async def post(self, text: str, rkey: str | None = None, token: str | None = None, **fields: Any) -> Reply:
        record = {"$type": "app.bsky.feed.post", "text": text, "createdAt": "2026-01-10T09:00:00.000Z", **fields}
        body = {"repo": self.did, "collection": "app.bsky.feed.post", "rkey": rkey or new_tid(), "record": record}
        return await self.call("POST", CREATE_RECORD, token or self.access, json=body)

    async def get(self, rkey: str, repo: str | None = None) -> Reply:
        params = {"repo": repo or self.did, "collection": "app.bsky.feed.post", "rkey": rkey}
        return await self.call("GET", GET_RECORD, params=params)

    async def upload(self, data: bytes, content_type: str = "image/png") -> Reply:
        headers = {"Content-Type": content_type}
        # A stream, as aiohttp warns against sending megabytes of raw bytes in one go.
        return await self.call("POST", UPLOAD_BLOB, self.access, data=io.BytesIO(data), headers=headers)


MakeServer = Callable[..., Awaitable[Server]]


@pytest_asyncio.fixture(loop_scope="session")
async def make_server() -> AsyncIterator[MakeServer]:
    """Starts a double (with the given settings) holding ``ville-a.test``, and logs that account in."""
    stack = contextlib.AsyncExitStack()
    http = await stack.enter_async_context(aiohttp.ClientSession())

    async def make(**settings: Any) -> Server:
        double = BlueskyDouble(seed=7, **settings)
        did = double.add_account("ville-a.test", PASSWORD)
        base = await stack.enter_async_context(double.serve())
        server = Server(double, base, http, did, "", "")
        session = await server.login("ville-a.test")
        assert session.status == 200, session.body
        server.access, server.refresh = session.body["accessJwt"], session.body["refreshJwt"]
        return server

    yield make
    await stack.aclose()


@pytest_asyncio.fixture(loop_scope="session")
async def server(make_server: MakeServer) -> Server:
    return await make_server()


def _rkey(reply: Reply) -> str:
    return str(reply.body["uri"]).rsplit("/", 1)[1]


# --- sessions -------------------------------------------------------------------------------------------------


async def test_an_app_password_opens_a_session_by_handle_or_did_in_any_case(server: Server) -> None:
    for identifier in ("ville-a.test", server.did, "VILLE-A.test"):
        session = await server.login(identifier)

        assert session.status == 200
        assert (session.body["did"], session.body["handle"]) == (server.did, "ville-a.test")
    service = session.body["didDoc"]["service"][0]
    assert (service["id"], service["serviceEndpoint"]) == ("#atproto_pds", server.base)
    assert server.double.session_count(server.did) == 4  # with the fixture's


async def test_a_wrong_app_password_is_refused_and_counted(server: Server) -> None:
    wrong = await server.login("ville-a.test", "zzzz-zzzz-zzzz-zzzz")
    unknown = await server.login("inconnue.test")

    assert (wrong.status, wrong.body) == (
        401,
        {"error": "AuthenticationRequired", "message": "Invalid identifier or password"},
    )
    assert (unknown.status, unknown.body["error"]) == (401, "AuthenticationRequired")
    assert server.double.session_count(server.did) == 2


async def test_create_session_is_limited_per_account_with_rate_limit_headers(make_server: MakeServer) -> None:
    server = await make_server(rate_limits=RateLimits(sessions=(Window(3, 300), Window(300, 86_400))))

    second = await server.login(server.did)  # by DID: the same account's budget
    await server.login("ville-a.test", "zzzz-zzzz-zzzz-zzzz")  # a refused login counts too
    refused = await server.login("ville-a.test")

    assert (second.headers["RateLimit-Limit"], second.headers["RateLimit-Remaining"]) == ("3", "1")
    assert second.headers["RateLimit-Policy"] == "3;w=300"
    assert (refused.status, refused.body["error"], refused.body["message"]) == (
        429,
        "RateLimitExceeded",
        "Rate Limit Exceeded",
    )
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert 0 < int(refused.headers["RateLimit-Reset"]) - time.time() <= 300
    server.double.advance(301)
    assert (await server.login("ville-a.test")).status == 200


async def test_default_session_limit_is_thirty_per_five_minutes(server: Server) -> None:
    answer = await server.login("ville-a.test")

    assert (answer.headers["RateLimit-Policy"], answer.headers["RateLimit-Remaining"]) == ("30;w=300", "28")


async def test_refresh_session_gives_new_tokens_and_the_old_one_works_for_a_grace_period(server: Server) -> None:
    first = await server.call("POST", REFRESH_SESSION, server.refresh)
    again = await server.call("POST", REFRESH_SESSION, server.refresh)

    assert first.status == 200 and first.body["did"] == server.did
    assert first.body["refreshJwt"] != server.refresh
    assert again.body["refreshJwt"] == first.body["refreshJwt"]  # reuse leads to the same next token
    assert (await server.post("Après rafraîchissement", token=first.body["accessJwt"])).status == 200
    server.double.advance(REFRESH_GRACE + 1)
    late = await server.call("POST", REFRESH_SESSION, server.refresh)
    assert (late.status, late.body) == (400, {"error": "ExpiredToken", "message": "Token has been revoked"})
    assert server.double.refresh_count(server.did) == 2


async def test_refresh_session_refuses_a_body_an_access_token_and_no_token(server: Server) -> None:
    with_body = await server.call("POST", REFRESH_SESSION, server.refresh, json={})
    access = await server.call("POST", REFRESH_SESSION, server.access)
    missing = await server.call("POST", REFRESH_SESSION)

    assert (with_body.status, with_body.body["message"]) == (
        400,
        "A request body was provided when none was expected",
    )
    assert (access.status, access.body) == (400, {"error": "InvalidToken", "message": "Invalid token type"})
    assert (missing.status, missing.body["error"]) == (401, "AuthMissing")


async def test_an_access_token_expires_with_a_400_expired_token(server: Server) -> None:
    server.double.advance(ACCESS_TTL + 1)

    answer = await server.post("Trop tard")

    assert (answer.status, answer.body) == (400, {"error": "ExpiredToken", "message": "Token has expired"})
    assert server.double.posts(server.did) == []


async def test_tokens_carry_their_expiry_as_a_jwt_claim(make_server: MakeServer) -> None:
    server = await make_server(access_ttl=600)

    claims = json.loads(_b64(server.access.split(".")[1]))

    assert claims["sub"] == server.did
    assert claims["exp"] - claims["iat"] == 600


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


async def test_unknown_tokens_and_other_schemes_are_invalid(server: Server) -> None:
    unknown = await server.post("x", token="eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjF9.bm9wZQ")
    basic = await server.call("GET", "com.atproto.server.getSession", headers={"Authorization": "Basic YTpi"})

    assert (unknown.status, unknown.body["error"], unknown.body["message"]) == (
        400,
        "InvalidToken",
        "Token could not be verified",
    )
    assert (basic.status, basic.body["message"]) == (400, "Unexpected authorization type")


async def test_get_session_names_the_account(server: Server) -> None:
    answer = await server.call("GET", "com.atproto.server.getSession", server.access)

    assert (answer.status, answer.body["did"], answer.body["handle"]) == (200, server.did, "ville-a.test")


# --- identity ---------------------------------------------------------------------------------------------------


async def test_handles_resolve_to_dids(server: Server) -> None:
    found = await server.call("GET", "com.atproto.identity.resolveHandle", params={"handle": "Ville-A.test"})
    unknown = await server.call("GET", "com.atproto.identity.resolveHandle", params={"handle": "inconnue.test"})

    assert (found.status, found.body) == (200, {"did": server.did})
    assert (unknown.status, unknown.body["message"]) == (400, "Unable to resolve handle")


async def test_did_documents_are_served_like_a_plc_directory(server: Server) -> None:
    async with server.http.get(f"{server.base}/{server.did}") as answer:
        document = await answer.json(content_type=None)
        content_type = answer.content_type
    async with server.http.get(f"{server.base}/did:plc:aaaaaaaaaaaaaaaaaaaaaaaa") as missing:
        missing_body = await missing.json()

    assert content_type == "application/did+ld+json"
    assert document["alsoKnownAs"] == ["at://ville-a.test"]
    assert document["service"] == [
        {"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": server.base}
    ]
    assert (missing.status, missing_body) == (404, {"message": "DID not registered: did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"})


# --- records ----------------------------------------------------------------------------------------------------


async def test_a_post_with_a_chosen_rkey_is_found_by_get_record(server: Server) -> None:
    rkey = new_tid()

    created = await server.post("Fête de la musique le 21 juin !", rkey)
    found = await server.get(rkey, repo="ville-a.test")

    assert created.status == 200
    assert created.body["uri"] == f"at://{server.did}/app.bsky.feed.post/{rkey}"
    assert created.body["cid"].startswith("bafyrei") and created.body["validationStatus"] == "valid"
    assert (found.status, found.body["cid"]) == (200, created.body["cid"])
    assert found.body["value"]["text"] == "Fête de la musique le 21 juin !"
    assert [p.rkey for p in server.double.posts(server.did)] == [rkey]


async def test_reusing_an_rkey_fails_with_a_500_and_keeps_the_first_post(server: Server) -> None:
    rkey = new_tid()
    await server.post("Premier", rkey)

    second = await server.post("Second", rkey)

    assert (second.status, second.body["error"]) == (500, "InternalServerError")
    assert [p.value["text"] for p in server.double.posts(server.did)] == ["Premier"]


async def test_an_rkey_that_is_not_a_tid_is_refused(server: Server) -> None:
    answer = await server.post("Bonjour", "pas-un-tid")

    assert (answer.status, answer.body["error"]) == (400, "InvalidRequest")
    assert answer.body["message"] == (
        'Invalid record key for app.bsky.feed.post: Invalid TID string (got "pas-un-tid") at $'
    )


async def test_text_is_limited_to_300_graphemes_then_3000_bytes(server: Server) -> None:
    assert (await server.post(THUMB * 300)).status == 200

    graphemes = await server.post(THUMB * 301)
    size = await server.post(FAMILY * 200)  # 200 graphemes, 3,600 bytes

    assert (graphemes.status, graphemes.body["message"]) == (
        400,
        "Invalid app.bsky.feed.post record: grapheme too big (maximum 300, got 301) at $.record.text",
    )
    assert (size.status, size.body["message"]) == (
        400,
        "Invalid app.bsky.feed.post record: string too big (maximum 3000, got 3600) at $.record.text",
    )
    assert len(server.double.posts(server.did)) == 1


async def test_records_are_checked_like_the_lexicon(server: Server) -> None:
    no_date = await server.call(
        "POST",
        CREATE_RECORD,
        server.access,
        json={"repo": server.did, "collection": "app.bsky.feed.post", "record": {"$type": "app.bsky.feed.post"}},
    )
    langs = await server.post("Bonjour", langs=["fr", "en", "de", "it"])

    assert no_date.body["message"] == 'Invalid app.bsky.feed.post record: Missing required key "text" at $.record'
    assert langs.body["message"].endswith("array too big (maximum 3, got 4) at $.record.langs")


async def test_only_the_own_repo_can_be_written(server: Server) -> None:
    other = server.double.add_account("ville-b.test", PASSWORD)
    record = {"$type": "app.bsky.feed.post", "text": "x", "createdAt": "2026-01-10T09:00:00Z"}

    foreign = await server.call(
        "POST", CREATE_RECORD, server.access, json={"repo": other, "collection": "app.bsky.feed.post", "record": record}
    )
    unknown = await server.call(
        "POST", CREATE_RECORD, server.access, json={"repo": "inconnue.test", "collection": "x.y", "record": record}
    )

    assert (foreign.status, foreign.body["error"]) == (401, "AuthenticationRequired")
    assert (unknown.status, unknown.body["error"]) == (403, "AccountNotFound")
    assert server.double.posts(other) == []


async def test_a_deleted_record_is_not_found_and_its_rkey_may_be_used_again(server: Server) -> None:
    created = await server.post("À supprimer")
    body = {"repo": server.did, "collection": "app.bsky.feed.post", "rkey": _rkey(created)}

    deleted = await server.call("POST", "com.atproto.repo.deleteRecord", server.access, json=body)
    again = await server.call("POST", "com.atproto.repo.deleteRecord", server.access, json=body)
    missing = await server.get(_rkey(created))

    assert deleted.status == 200 and "commit" in deleted.body
    assert (again.status, again.body) == (200, {})
    assert (missing.status, missing.body["error"]) == (400, "RecordNotFound")
    assert missing.body["message"] == f"Could not locate record: {created.body['uri']}"
    assert server.double.posts(server.did) == []
    assert [p.deleted_at is not None for p in server.double.posts(server.did, include_deleted=True)] == [True]
    assert (await server.post("De retour", _rkey(created))).status == 200


async def test_list_records_pages_newest_first(server: Server) -> None:
    rkeys = [_rkey(await server.post(f"Annonce {n}")) for n in range(3)]
    params = {"repo": server.did, "collection": "app.bsky.feed.post", "limit": "2"}

    first = await server.call("GET", "com.atproto.repo.listRecords", params=params)
    rest = await server.call("GET", "com.atproto.repo.listRecords", params={**params, "cursor": first.body["cursor"]})

    assert [r["uri"].rsplit("/", 1)[1] for r in first.body["records"]] == rkeys[:0:-1]
    assert [r["value"]["text"] for r in rest.body["records"]] == ["Annonce 0"]


# --- blobs ------------------------------------------------------------------------------------------------------


async def test_upload_blob_sniffs_the_type_and_gives_a_reference(server: Server) -> None:
    answer = await server.upload(PNG, "image/jpeg")

    blob = answer.body["blob"]
    assert (blob["$type"], blob["mimeType"], blob["size"]) == ("blob", "image/png", len(PNG))
    assert blob["ref"]["$link"].startswith("bafkrei")
    image = {"$type": "app.bsky.embed.images", "images": [{"alt": "Logo", "image": blob}]}
    assert (await server.post("Avec image", embed=image)).status == 200


async def test_a_blob_over_the_limit_is_refused_with_the_limit_stated(server: Server) -> None:
    answer = await server.upload(b"\xff\xd8\xff" + bytes(1_200_000), "image/jpeg")

    assert (answer.status, answer.body["error"]) == (400, "BlobTooLarge")
    assert answer.body["message"] == "This file is too large. It is 1.14MB but the maximum size is 976.56KB."
    assert 999_000 < (stated_limit(answer.body["message"]) or 0) <= 1_000_000
    assert server.double.blobs(server.did) == []


async def test_the_local_pds_answer_to_a_large_blob_is_available(make_server: MakeServer) -> None:
    server = await make_server(blob_limit=5 * 1024 * 1024, blob_limit_answer="payload_too_large")

    answer = await server.upload(bytes(6 * 1024 * 1024))

    assert (answer.status, answer.body) == (413, {"error": "PayloadTooLarge", "message": "request entity too large"})


async def test_a_record_may_not_use_a_blob_it_never_uploaded(server: Server) -> None:
    link = "bafkreibme22gw2h7y2h7tg2fhqotaqjucnbc24deqo72b6mkl2egezxhvy"
    blob = {"$type": "blob", "ref": {"$link": link}, "mimeType": "image/png", "size": 69}
    image = {"$type": "app.bsky.embed.images", "images": [{"alt": "", "image": blob}]}

    answer = await server.post("Image fantôme", embed=image)

    assert (answer.status, answer.body["error"]) == (400, "BlobNotFound")
    assert answer.body["message"] == f"Could not find blob: {link}"


# --- write limits -----------------------------------------------------------------------------------------------


async def test_writes_cost_points_per_account_with_headers_and_a_429(make_server: MakeServer) -> None:
    server = await make_server(rate_limits=RateLimits(writes=(Window(9, 3600),)))

    answers = [await server.post(f"Annonce {n}") for n in range(4)]

    assert [a.status for a in answers] == [200, 200, 200, 429]
    assert [a.headers["RateLimit-Remaining"] for a in answers] == ["6", "3", "0", "0"]
    assert answers[3].body == {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}
    assert 3590 < int(answers[3].headers["RateLimit-Reset"]) - time.time() <= 3600
    assert len(server.double.posts(server.did)) == 3
    server.double.advance(3600)
    assert (await server.post("Une heure plus tard")).status == 200


async def test_default_write_limit_is_5000_points_an_hour(server: Server) -> None:
    answer = await server.post("Bonjour")

    assert (answer.headers["RateLimit-Policy"], answer.headers["RateLimit-Remaining"]) == ("5000;w=3600", "4997")


async def test_rate_limits_can_be_disabled(make_server: MakeServer) -> None:
    server = await make_server(rate_limits=RateLimits(enabled=False))

    answer = await server.post("Bonjour")

    assert answer.status == 200 and "RateLimit-Limit" not in answer.headers


# --- faults -----------------------------------------------------------------------------------------------------


async def test_latency_is_applied_once_per_request(server: Server) -> None:
    fault = server.double.inject("latency", count=None, seconds=0.01)

    for _ in range(3):
        assert (await server.post("Lent")).status == 200

    assert fault.fired == 3


async def test_answer_time_holds_the_answer_not_the_work(server: Server) -> None:
    fault = server.double.inject("answer_time", count=None, seconds=0.4)
    loop = asyncio.get_running_loop()
    started = loop.time()

    posting = asyncio.gather(*(server.post(f"Tenu {n}") for n in range(5)))
    await asyncio.sleep(0.2)
    made_before_answers = len(server.double.posts(server.did))
    answers = await posting

    assert made_before_answers == 5, "the work happens when the request arrives, the answer waits"
    assert all(answer.status == 200 for answer in answers)
    assert 0.4 <= loop.time() - started < 0.8
    assert fault.fired == 5


async def test_a_server_error_is_an_xrpc_error_and_commits_nothing(server: Server) -> None:
    server.double.inject("server_error", status=502, on=CREATE_RECORD)

    answer = await server.post("Panne")

    assert (answer.status, answer.body["error"]) == (502, "UpstreamFailure")
    assert server.double.posts(server.did) == []


async def test_a_timeout_holds_then_drops_without_committing(server: Server) -> None:
    server.double.inject("timeout", seconds=0.05, on=CREATE_RECORD)

    with pytest.raises(aiohttp.ClientError):
        await server.post("Perdu")

    assert server.double.posts(server.did) == []


async def test_a_forced_429_carries_rate_limit_headers(server: Server) -> None:
    server.double.inject("rate_limit", on=CREATE_SESSION)

    answer = await server.login("ville-a.test")

    assert (answer.status, answer.body["error"], answer.headers["RateLimit-Remaining"]) == (
        429,
        "RateLimitExceeded",
        "0",
    )


async def test_commit_then_reset_keeps_the_post_but_loses_the_answer(server: Server) -> None:
    server.double.inject("commit_then_reset", on=CREATE_RECORD)
    rkey = new_tid()

    with pytest.raises(aiohttp.ClientError):
        await server.post("Réponse perdue", rkey)

    assert [p.rkey for p in server.double.posts(server.did)] == [rkey]
    assert (await server.get(rkey)).status == 200


async def test_an_unknown_method_or_verb_has_no_service(server: Server) -> None:
    unknown = await server.call("GET", "com.atproto.repo.nonexistent")
    verb = await server.call("GET", CREATE_RECORD)

    assert (unknown.status, unknown.body["message"]) == (400, "No service configured for com.atproto.repo.nonexistent")
    assert (verb.status, verb.body["error"]) == (400, "InvalidRequest")


async def test_many_concurrent_posts_with_latency_are_all_recorded(make_server: MakeServer) -> None:
    server = await make_server(rate_limits=RateLimits(enabled=False))
    dids = [server.double.add_account(f"ville-{number}.test", PASSWORD) for number in range(1000)]

    async def post(did: str, token: str) -> int:
        record = {"$type": "app.bsky.feed.post", "text": "Bonjour", "createdAt": "2026-01-10T09:00:00Z"}
        body = {"repo": did, "collection": "app.bsky.feed.post", "rkey": new_tid(), "record": record}
        return (await server.call("POST", CREATE_RECORD, token, json=body)).status

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        server.http = http
        sessions = await asyncio.gather(*(server.login(did) for did in dids))
        towns = [(did, session.body["accessJwt"]) for did, session in zip(dids, sessions, strict=True)]
        server.double.inject("latency", count=None, seconds=0.1)
        statuses = await asyncio.gather(*(post(did, token) for did, token in towns))

    assert statuses == [200] * 1000
    assert all(len(server.double.posts(did)) == 1 for did, _ in towns)


# --- the publisher against the double ---------------------------------------------------------------------------


@pytest_asyncio.fixture(loop_scope="session")
async def hub(tmp_path: Path, clock: Clock) -> AsyncIterator[Hub]:
    """The hub on SQLite only: what the publisher needs from the store does not depend on the database."""
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'unisson.db'}"
    store = Store.from_url(database_url, clock)
    await migrate.upgrade(store)
    settings = Settings(data_dir=tmp_path, database_url=database_url, admins=[ADMIN], _env_file=None)
    hub = Hub(store, SecretBox([generate_key()]), settings, clock=clock)
    yield hub
    await hub.close()


@dataclass
class Town:
    """A town whose Bluesky account lives on the double and is linked in the hub."""

    hub: Hub
    double: BlueskyDouble
    account: Account
    did: str
    announcement_id: int

    async def job(self, text: str = "Bonjour", **options: Any) -> PostJob:
        delivery_id = options.pop("delivery_id", None) or await self.delivery()
        return PostJob(delivery_id, self.account, text, "fr", f"idem-{delivery_id}", **options)

    async def delivery(self) -> int:
        key = secrets.token_hex(8)
        new = NewDelivery(self.account.town_id, self.account.id, Platform.BLUESKY, 1, "texte", key, datetime.now(UTC))
        async with self.hub.store.unit() as uow:
            await uow.deliveries.create_many(self.announcement_id, [new])
            return next(d.id for d in await uow.deliveries.list(self.announcement_id) if d.idempotency_key == key)

    async def stored_key(self, delivery_id: int) -> str | None:
        async with self.hub.store.unit() as uow:
            return await uow.deliveries.remote_key(delivery_id)


@dataclass
class Desk:
    """The double serving, a hub with one linked town, and a publisher that finds DID documents on the double."""

    double: BlueskyDouble
    base: str
    town: Town
    publisher: BlueskyPublisher


MakeDesk = Callable[..., Awaitable[Desk]]


@pytest_asyncio.fixture(loop_scope="session")
async def make_desk(hub: Hub, tmp_path: Path) -> AsyncIterator[MakeDesk]:
    """Starts a double with the given settings, links a new account of it in the hub, makes a publisher."""
    stack = contextlib.AsyncExitStack()
    setup = await build_coalition(hub, tmp_path, (PANTIN,))

    async def make(password: str = PASSWORD, **settings: Any) -> Desk:
        double = BlueskyDouble(seed=11, **settings)
        base = await stack.enter_async_context(double.serve())
        handle = f"ville-{secrets.token_hex(4)}.test"
        did = double.add_account(handle, PASSWORD)
        account = await hub.accounts.link(
            setup.officer(PANTIN), setup.town(PANTIN).id, Platform.BLUESKY, handle, password, server=base
        )
        announcement = await propose(hub, setup)
        publisher = BlueskyPublisher(StoreGateway(hub), plc_url=base, timeout=5.0)
        stack.push_async_callback(publisher.close)
        return Desk(double, base, Town(hub, double, account, did, announcement.id), publisher)

    yield make
    await stack.aclose()


def _noise_png(width: int, height: int) -> bytes:
    """A PNG of random pixels: it does not compress, so it is over a megabyte at 900×600."""
    image = Image.frombytes("RGB", (width, height), secrets.token_bytes(width * height * 3))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _slice(text: str, facet: dict[str, Any]) -> str:
    index = facet["index"]
    return text.encode("utf-8")[index["byteStart"] : index["byteEnd"]].decode("utf-8")


async def test_the_publisher_posts_facets_and_images_with_one_login(make_desk: MakeDesk) -> None:
    desk = await make_desk()
    friend = desk.double.add_account("voisine.test", "x")
    text = f"Fête à Pantin 🎄 : {DEAD_LINK}. #AuRevoirX avec @voisine.test !"
    big = _noise_png(900, 600)
    images = (PostImage(big, "image/png", "Le parvis", 900, 600), PostImage(PNG, "image/png", "Logo", 1, 1))

    published = await desk.publisher.publish(await desk.town.job(text, images=images))

    [post] = desk.double.posts(desk.town.did)
    assert published.remote_id == post.uri
    shown = {_slice(text, f): f["features"][0] for f in post.value["facets"]}
    assert shown == {
        DEAD_LINK: {"$type": "app.bsky.richtext.facet#link", "uri": DEAD_LINK},
        "#AuRevoirX": {"$type": "app.bsky.richtext.facet#tag", "tag": "AuRevoirX"},
        "@voisine.test": {"$type": "app.bsky.richtext.facet#mention", "did": friend},
    }
    embedded = post.value["embed"]["images"]
    assert [i["alt"] for i in embedded] == ["Le parvis", "Logo"]
    assert len(big) > 1_000_000 >= embedded[0]["image"]["size"]
    uploaded = {b.cid for b in desk.double.blobs(desk.town.did)}
    assert {i["image"]["ref"]["$link"] for i in embedded} == uploaded
    assert desk.double.session_count(desk.town.did) == 1


async def test_the_publisher_finds_the_pds_through_the_plc_directory(make_desk: MakeDesk) -> None:
    desk = await make_desk(session_did_doc=False)

    await desk.publisher.publish(await desk.town.job("Via l'annuaire"))

    assert desk.double.calls[DID_DOCUMENT] == 1
    assert len(desk.double.posts(desk.town.did)) == 1


async def test_a_hundred_attempts_with_lost_answers_leave_exactly_one_post(make_desk: MakeDesk) -> None:
    desk = await make_desk()
    town = desk.town
    delivery_id = await town.delivery()
    desk.double.inject("commit_then_reset", count=None, on=CREATE_RECORD)
    results: list[Published] = []
    for attempt in range(100):
        if attempt % 2:  # every other check is lost too
            desk.double.inject("server_error", on=GET_RECORD)
        job = await town.job("Une seule fois", delivery_id=delivery_id, remote_key=await town.stored_key(delivery_id))
        try:
            results.append(await desk.publisher.publish(job))
        except TransientPublishError:
            continue

    [post] = desk.double.posts(town.did)
    assert post.rkey == await town.stored_key(delivery_id)
    assert len(results) == 49 and {r.remote_id for r in results} == {post.uri}
    assert desk.double.calls[CREATE_RECORD] == 1


async def test_an_expired_access_token_is_refreshed_without_a_new_login(make_desk: MakeDesk) -> None:
    desk = await make_desk()
    await desk.publisher.publish(await desk.town.job("Avant"))
    desk.double.advance(ACCESS_TTL + 60)

    await desk.publisher.publish(await desk.town.job("Après"))

    assert [p.value["text"] for p in desk.double.posts(desk.town.did)] == ["Avant", "Après"]
    assert desk.double.session_count(desk.town.did) == 1
    assert desk.double.refresh_count(desk.town.did) == 1
    assert desk.double.calls[CREATE_RECORD] == 3  # the refused one, then once per post


async def test_a_bad_app_password_is_a_permanent_error_asking_to_link_again(make_desk: MakeDesk) -> None:
    desk = await make_desk(password="zzzz-zzzz-zzzz-zzzz")

    with pytest.raises(PermanentPublishError) as refused:
        await desk.publisher.publish(await desk.town.job())

    assert refused.value.reconnect is True
    assert "zzzz-zzzz-zzzz-zzzz" not in refused.value.message("fr")
    assert desk.double.session_count(desk.town.did) == 1
    assert desk.double.posts(desk.town.did) == []


async def test_a_revoked_app_password_asks_to_link_again_once_the_token_expires(make_desk: MakeDesk) -> None:
    desk = await make_desk()
    await desk.publisher.publish(await desk.town.job("Avant"))
    desk.double.revoke_app_password(desk.town.did)
    desk.double.advance(ACCESS_TTL + 60)

    with pytest.raises(PermanentPublishError) as refused:
        await desk.publisher.publish(await desk.town.job("Après"))

    assert refused.value.reconnect is True
    assert (desk.double.calls[REFRESH_SESSION], desk.double.session_count(desk.town.did)) == (1, 2)


async def test_a_write_limit_becomes_a_transient_error_with_the_reset_time(make_desk: MakeDesk) -> None:
    desk = await make_desk(rate_limits=RateLimits(writes=(Window(3, 3600),)))
    await desk.publisher.publish(await desk.town.job("Un"))

    with pytest.raises(TransientPublishError) as limited:
        await desk.publisher.publish(await desk.town.job("Deux"))

    assert limited.value.retry_at is not None
    assert 3500 < (limited.value.retry_at - datetime.now(UTC)).total_seconds() <= 3600
    assert len(desk.double.posts(desk.town.did)) == 1


async def test_the_publisher_deletes_and_a_second_delete_is_fine(make_desk: MakeDesk) -> None:
    desk = await make_desk()
    published = await desk.publisher.publish(await desk.town.job("À supprimer"))

    await desk.publisher.delete(desk.town.account, published.remote_id)
    await desk.publisher.delete(desk.town.account, published.remote_id)

    assert desk.double.posts(desk.town.did) == []


async def test_many_towns_post_at_one_instant_through_the_publisher(hub: Hub, tmp_path: Path) -> None:
    """Every town's post is committed exactly once with one login each (speed is measured in bench/)."""
    # Corsican codes (2A…, 2B…) would make officer ids with capitals, which Matrix ids may not have.
    codes = tuple(e.code for e in pick_communes(250) if e.code.isdigit())[:200]
    setup = await build_coalition(hub, tmp_path, codes)
    double = BlueskyDouble(seed=3)
    async with double.serve() as base:
        accounts = {}
        secret = hub.box.encrypt(PASSWORD)
        async with hub.store.unit() as uow:  # one transaction: linking 1,600 accounts one by one takes a minute
            for code in codes:
                did = double.add_account(f"ville-{code}.test", PASSWORD)
                town_id = setup.town(code).id
                handle = f"ville-{code}.test"
                accounts[did] = await uow.accounts.upsert(
                    town_id, Platform.BLUESKY, handle, base, secret, Credential.APP_PASSWORD
                )
        announcement = await propose(hub, setup)
        new = [
            NewDelivery(a.town_id, a.id, Platform.BLUESKY, 1, "texte", f"k-{a.id}", datetime.now(UTC))
            for a in accounts.values()
        ]
        async with hub.store.unit() as uow:
            await uow.deliveries.create_many(announcement.id, new)
            delivery_of = {d.account_id: d.id for d in await uow.deliveries.list(announcement.id)}
        publisher = BlueskyPublisher(StoreGateway(hub), plc_url=base, timeout=30.0)
        try:
            jobs = [
                PostJob(delivery_of[a.id], a, f"{a.identifier} quitte X #AuRevoirX", "fr", f"k-{a.id}")
                for a in accounts.values()
            ]
            prepared = await asyncio.gather(*(publisher.prepare(job) for job in jobs))  # sessions opened ahead
            double.inject("latency", count=None, seconds=0.1)
            results = await asyncio.gather(
                *(publisher.publish(replace(job, prepared=p)) for job, p in zip(jobs, prepared, strict=True))
            )
        finally:
            await publisher.close()

    assert len({r.remote_id for r in results}) == 200
    assert all(len(double.posts(did)) == 1 and double.session_count(did) == 1 for did in accounts)
    assert double.calls[CREATE_RECORD] == 200

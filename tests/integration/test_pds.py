"""The sandbox PDS behaves like Bluesky where the publisher meets it, through raw XRPC calls."""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass, replace
from typing import Any

import pytest
import pytest_asyncio

from sandbox.pds import Account, RunningPds

pytestmark = pytest.mark.asyncio(loop_scope="session")

# A 1×1 red PNG.
_PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC")
_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
# One grapheme made of two code points (thumbs up + skin tone): the limit counts graphemes, not code points.
_THUMB = "\U0001f44d\U0001f3fd"


@dataclass(frozen=True)
class Town:
    """An account of the sandbox PDS with an app-password session, as the publisher will hold one."""

    account: Account
    app_password: str
    access_jwt: str
    refresh_jwt: str


def _tid() -> str:
    """A record key in the AT Protocol TID format: microseconds since 1970, then a 10-bit clock id."""
    value = (time.time_ns() // 1000) << 10 | secrets.randbelow(1024)
    return "".join(_TID_ALPHABET[(value >> shift) & 31] for shift in range(60, -1, -5))


async def _call(
    pds: RunningPds,
    method: str,
    *,
    token: str | None = None,
    params: dict[str, str] | None = None,
    body: dict[str, Any] | None = None,
    post: bool = False,
) -> tuple[int, dict[str, Any]]:
    """One XRPC call: a POST (procedure) when there is a body or ``post`` is set, a GET (query) otherwise."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    verb = "POST" if post or body is not None else "GET"
    async with pds.http.request(verb, pds.xrpc_url(method), params=params, json=body, headers=headers) as response:
        return response.status, await response.json()


async def _post_record(pds: RunningPds, town: Town, rkey: str, text: str) -> tuple[int, dict[str, Any]]:
    record = {"$type": "app.bsky.feed.post", "text": text, "createdAt": "2025-06-01T09:00:00.000Z"}
    body = {"repo": town.account.did, "collection": "app.bsky.feed.post", "rkey": rkey, "record": record}
    return await _call(pds, "com.atproto.repo.createRecord", token=town.access_jwt, body=body)


@pytest_asyncio.fixture(loop_scope="session")
async def town(pds: RunningPds) -> Town:
    """A new account, signed in with an app password (never with the main password, like the publisher)."""
    handle = f"ville-{secrets.token_hex(4)}.test"
    account = await pds.create_account(handle, f"com@{handle}", "mot-de-passe-principal")
    app_password = await pds.create_app_password(account.access_jwt, "unisson")
    status, session = await _call(
        pds, "com.atproto.server.createSession", body={"identifier": handle, "password": app_password}
    )
    assert status == 200, session
    return Town(account, app_password, session["accessJwt"], session["refreshJwt"])


async def test_account_is_created_with_a_plc_identity(pds: RunningPds) -> None:
    account = await pds.create_account("mairie-test.test", "com@mairie-test.test", "mot-de-passe-principal")

    assert account.handle == "mairie-test.test"
    assert account.did.startswith("did:plc:")
    async with pds.http.get(f"{pds.plc_url}/{account.did}") as response:
        assert response.status == 200
        document = await response.json()
    assert document["alsoKnownAs"] == ["at://mairie-test.test"]


async def test_app_password_opens_a_session_for_the_account(pds: RunningPds, town: Town) -> None:
    status, session = await _call(
        pds,
        "com.atproto.server.createSession",
        body={"identifier": town.account.handle, "password": town.app_password},
    )

    assert status == 200
    assert session["did"] == town.account.did
    assert session["handle"] == town.account.handle


async def test_wrong_app_password_is_refused(pds: RunningPds, town: Town) -> None:
    status, answer = await _call(
        pds,
        "com.atproto.server.createSession",
        body={"identifier": town.account.handle, "password": "aaaa-bbbb-cccc-dddd"},
    )

    assert status == 401
    assert answer["error"] == "AuthenticationRequired"


async def test_refresh_session_gives_new_tokens(pds: RunningPds, town: Town) -> None:
    status, session = await _call(pds, "com.atproto.server.refreshSession", token=town.refresh_jwt, post=True)

    assert status == 200
    assert session["did"] == town.account.did
    assert session["refreshJwt"] != town.refresh_jwt
    status, _ = await _post_record(pds, replace(town, access_jwt=session["accessJwt"]), _tid(), "Bonjour")
    assert status == 200


async def test_post_with_chosen_rkey_is_found_by_get_record(pds: RunningPds, town: Town) -> None:
    rkey = _tid()

    status, created = await _post_record(pds, town, rkey, "Fête de la musique le 21 juin !")

    assert status == 200, created
    assert created["uri"] == f"at://{town.account.did}/app.bsky.feed.post/{rkey}"
    params = {"repo": town.account.did, "collection": "app.bsky.feed.post", "rkey": rkey}
    status, found = await _call(pds, "com.atproto.repo.getRecord", params=params)
    assert status == 200
    assert found["value"]["text"] == "Fête de la musique le 21 juin !"
    assert found["cid"] == created["cid"]


async def test_reusing_an_rkey_fails_with_a_server_error(pds: RunningPds, town: Town) -> None:
    rkey = _tid()
    status, _ = await _post_record(pds, town, rkey, "Premier")
    assert status == 200

    status, answer = await _post_record(pds, town, rkey, "Second")

    # Not a 409: the PDS answers 500, so the publisher detects duplicates with getRecord instead.
    assert status == 500
    assert answer["error"] == "InternalServerError"


async def test_rkey_that_is_not_a_tid_is_refused(pds: RunningPds, town: Town) -> None:
    status, answer = await _post_record(pds, town, "pas-un-tid", "Bonjour")

    assert status == 400
    assert answer["error"] == "InvalidRequest"


async def test_post_limit_is_300_graphemes(pds: RunningPds, town: Town) -> None:
    status, _ = await _post_record(pds, town, _tid(), _THUMB * 300)
    assert status == 200

    status, answer = await _post_record(pds, town, _tid(), _THUMB * 301)

    assert status == 400
    assert "grapheme" in answer["message"]


async def test_handle_resolves_to_the_did(pds: RunningPds, town: Town) -> None:
    params = {"handle": town.account.handle}

    status, answer = await _call(pds, "com.atproto.identity.resolveHandle", params=params)

    assert status == 200
    assert answer["did"] == town.account.did


async def test_upload_blob_accepts_a_png(pds: RunningPds, town: Town) -> None:
    headers = {"Authorization": f"Bearer {town.access_jwt}", "Content-Type": "image/png"}

    async with pds.http.post(pds.xrpc_url("com.atproto.repo.uploadBlob"), data=_PNG, headers=headers) as response:
        assert response.status == 200
        blob = (await response.json())["blob"]

    assert blob["mimeType"] == "image/png"
    assert blob["size"] == len(_PNG)
    assert blob["ref"]["$link"]

"""Finding a Bluesky account from its handle, on any PDS: handle → DID → DID document → PDS, checked both ways.

Used before an officer is asked for an app password, so that a mistyped handle or an account on another server
is caught first. The handle is resolved by the server the officer named, else by the handle's own
``/.well-known/atproto-did``, else by bsky.social (which resolves any handle); the DID document comes from the
PLC directory (``did:plc``) or the handle's domain (``did:web``) and must name the handle back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp

from hub.errors import UnissonError

#: Resolves any handle, wherever the account is hosted.
FALLBACK_RESOLVER = "https://bsky.social"


class HandleNotFound(UnissonError):
    key = "error.bluesky.handle_not_found"


@dataclass(frozen=True, slots=True)
class BlueskyIdentity:
    handle: str
    did: str
    #: The account's PDS, where it logs in.
    pds: str


async def find_account(handle: str, server: str | None, plc_url: str, seconds: float) -> BlueskyIdentity:
    """The account behind ``handle``; :class:`HandleNotFound` if it cannot be found or does not match."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=seconds)) as http:
        did = await _did(http, handle, server)
        document = await _json(http, _document_url(did, plc_url)) if did else None
    if did is None or not isinstance(document, dict):
        raise HandleNotFound(handle=handle)
    if f"at://{handle}" not in (document.get("alsoKnownAs") or []):
        raise HandleNotFound(handle=handle)  # the handle claims a DID that does not claim it back
    pds = _pds(document)
    if pds is None:
        raise HandleNotFound(handle=handle)
    return BlueskyIdentity(handle, did, pds.rstrip("/"))


async def _did(http: aiohttp.ClientSession, handle: str, server: str | None) -> str | None:
    if server:
        return await _resolve_at(http, server, handle)
    well_known = await _text(http, f"https://{handle}/.well-known/atproto-did")
    if well_known and well_known.strip().startswith("did:"):
        return well_known.strip()
    return await _resolve_at(http, FALLBACK_RESOLVER, handle)


async def _resolve_at(http: aiohttp.ClientSession, server: str, handle: str) -> str | None:
    answer = await _json(http, f"{server.rstrip('/')}/xrpc/com.atproto.identity.resolveHandle?handle={quote(handle)}")
    did = answer.get("did") if isinstance(answer, dict) else None
    return did if isinstance(did, str) and did.startswith("did:") else None


def _document_url(did: str, plc_url: str) -> str:
    if did.startswith("did:web:"):
        return f"https://{did.removeprefix('did:web:')}/.well-known/did.json"
    return f"{plc_url.rstrip('/')}/{did}"


def _pds(document: dict[str, Any]) -> str | None:
    for service in document.get("service") or []:
        if isinstance(service, dict) and str(service.get("id", "")).endswith("#atproto_pds"):
            endpoint = service.get("serviceEndpoint")
            return endpoint if isinstance(endpoint, str) else None
    return None


async def _json(http: aiohttp.ClientSession, url: str) -> Any:
    try:
        async with http.get(url) as answer:
            return await answer.json(content_type=None) if answer.status == 200 else None
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return None


async def _text(http: aiohttp.ClientSession, url: str) -> str | None:
    try:
        async with http.get(url) as answer:
            return await answer.text() if answer.status == 200 else None
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return None

"""Publishing to Bluesky (AT Protocol) with an app password.

XRPC calls are plain JSON over our aiohttp session (:class:`~hub.publishers.xrpc.Xrpc`), with an explicit
``Authorization`` header on each call: every request shares one connection pool and one timeout, no SDK model
is built (thousands of posts at one instant), and every failure reaches :func:`_publish_error`, the single
place where failures become our transient or permanent publish errors. The atproto SDK is only used to find
facets, when a post is prepared (:mod:`hub.publishers.bluesky_content`).

Sessions: one ``createSession`` per account, then ``refreshSession`` when the access token expires, and a new
``createSession`` only when the refresh fails. A lock per account makes concurrent jobs refresh once. The
session (tokens and the account's PDS, read from the DID document) is kept encrypted by the hub.

Idempotency: the post's record key (a TID) is chosen and stored through the gateway before the first
``createRecord``; an attempt that finds a stored key first asks ``getRecord`` whether the post exists.

A follow-up (:attr:`PostJob.reply_to`) is a post like the others with a ``reply {root, parent}``: both strong
refs to the town's post, whose cid is read with ``getRecord`` when the follow-up is made.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import secrets
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

import aiohttp
import orjson

from hub.domain.model import Account, Platform
from hub.publishers import bluesky_content as content
from hub.publishers.base import (
    AccountCheck,
    Gateway,
    PermanentPublishError,
    PostJob,
    Published,
    Publisher,
    PublishError,
    TransientPublishError,
)
from hub.publishers.http import posting_session
from hub.publishers.wire import SessionTransport, Wire
from hub.publishers.xrpc import STALE_TOKEN, UnreadableAnswer, Xrpc, XrpcFailure, field, pds_of, text

__all__ = ["BlueskyPublisher", "PdsSession", "XrpcFailure", "new_tid", "xrpc_boundary"]

log = logging.getLogger(__name__)

T = TypeVar("T")

POST = "app.bsky.feed.post"
PROFILE = "app.bsky.actor.profile"
#: Times a pin re-reads the profile after a concurrent edit changed it under us (swapRecord refused).
_SWAP_TRIES = 3
LIMITS: dict[str, Any] = {"graphemes": 300, "bytes": 3000, "max_images": 4, "image_bytes": content.IMAGE_BYTES}
_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
# Refresh ahead of time when the access token has less than this left, so that publishing needs no refresh.
_FRESH_SECONDS = 15 * 60
# What a person must fix by linking the account again.
_RECONNECT = {
    "AuthFactorTokenRequired": "publish.bluesky.auth_factor",
    "AccountTakedown": "publish.bluesky.takedown",
    "AccountDeactivated": "publish.bluesky.deactivated",
}


@dataclass(frozen=True, slots=True)
class PdsSession:
    did: str
    handle: str
    access_jwt: str
    refresh_jwt: str
    pds: str

    def dump(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def load(cls, stored: str | None) -> PdsSession | None:
        if not stored:
            return None
        try:
            return cls(**orjson.loads(stored))
        except (TypeError, ValueError):
            return None  # an older or foreign format: log in again

    def expires_soon(self) -> bool:
        return _jwt_expiry(self.access_jwt) < time.time() + _FRESH_SECONDS

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_jwt}"}


class BlueskyPublisher(Publisher):
    """Publishes posts to the PDS of each town's account; see the module's documentation."""

    platform: ClassVar[Platform] = Platform.BLUESKY

    def __init__(
        self,
        gateway: Gateway,
        *,
        plc_url: str = "https://plc.directory",
        app_url: str = "https://bsky.app",
        timeout: float = 10.0,
        http: aiohttp.ClientSession | None = None,
    ) -> None:
        self.gateway = gateway
        self.plc_url = plc_url
        #: Where people read a post (its link in the room and on the pages): a Bluesky web app.
        self.app_url = app_url.rstrip("/")
        self.timeout = timeout
        self._own_http = http is None
        self._http = http or posting_session(timeout)
        # XRPC calls (the posts at the instant) go on the lean wire, unless the caller chose the session.
        self._xrpc = Xrpc(Wire() if http is None else SessionTransport(http), timeout)
        self._sessions: dict[int, PdsSession] = {}
        self._locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        #: Per account, an image limit lower than the lexicon's that the server has stated.
        self._image_bytes: dict[int, int] = {}

    # --- the Publisher interface --------------------------------------------------------------------------

    async def verify(self, account: Account) -> AccountCheck:
        """Checks a known session with ``getSession`` (refreshing it if stale); without one, the login is the
        check: a second request would only repeat what ``createSession`` just said (thousands at a pre-flight)."""

        async def check(s: PdsSession) -> str:
            return text(await self._xrpc.query(s.pds, "com.atproto.server.getSession", headers=s.auth()), "handle")

        async with xrpc_boundary():
            if account.id not in self._sessions and PdsSession.load(await self.gateway.session(account.id)) is None:
                return AccountCheck(identifier=(await self._session(account)).handle, limits=dict(LIMITS))
            return AccountCheck(identifier=await self._authed(account, check), limits=dict(LIMITS))

    async def prepare(self, job: PostJob) -> dict[str, Any]:
        """Refreshes the session if it is near expiry, uploads images or the card's thumbnail, finds facets, and
        chooses the post's rkey (the claim stores it before the post is sent)."""
        async with xrpc_boundary():
            return await self._prepare(job) | {"rkey": new_tid()}

    async def publish(self, job: PostJob) -> Published:
        """One ``createRecord`` with a stored rkey; a stored rkey whose post exists is returned as it is."""
        async with xrpc_boundary():
            rkey, fresh = job.remote_key, job.first_attempt
            if rkey is None:
                proposed = new_tid()
                # The store keeps the first key it was given: a stale job gets the earlier attempt's key back.
                rkey = await self.gateway.remember_remote_key(job.delivery_id, proposed)
                fresh = rkey == proposed
            if not fresh:
                found = await self._existing(job.account, rkey)
                if found is not None:
                    return found
            return await self._create(job, rkey)

    async def delete(self, account: Account, remote_id: str) -> None:
        """``deleteRecord``; the PDS answers success for a record already gone."""
        repo, collection, rkey = _parse_at_uri(remote_id)
        data = {"repo": repo, "collection": collection, "rkey": rkey}
        async with xrpc_boundary():
            await self._authed(
                account, lambda s: self._xrpc.procedure(s.pds, "com.atproto.repo.deleteRecord", data, s.auth())
            )

    async def pin(self, job: PostJob) -> Published:
        """Sets the profile's ``pinnedPost`` to the post, after storing the previous one; ``swapRecord`` makes a
        concurrent edit of the profile refuse our write (then we read it again) instead of being overwritten."""
        assert job.pin_of is not None
        async with xrpc_boundary():
            ref = await self._strong_ref(job.account, job.pin_of, "publish.pin.parent_gone")
            for _ in range(_SWAP_TRIES):
                profile, cid = await self._profile(job.account)
                if _ref_uri(profile.get("pinnedPost")) != ref["uri"]:
                    await self.gateway.remember_previous_pin(job.delivery_id, {"pinned": profile.get("pinnedPost")})
                    if not await self._put_profile(job.account, profile | {"pinnedPost": ref}, cid):
                        continue
                return Published(ref["uri"], f"{self.app_url}/profile/{_parse_at_uri(ref['uri'])[0]}")
        raise TransientPublishError("publish.pin.busy")

    async def unpin(self, account: Account, remote_id: str, previous: dict[str, Any] | None) -> None:
        """Puts back the pin that was there before ours (or none), if the profile still pins our post."""
        async with xrpc_boundary():
            for _ in range(_SWAP_TRIES):
                profile, cid = await self._profile(account)
                if _ref_uri(profile.get("pinnedPost")) != remote_id:
                    return  # unpinned, or pinned elsewhere since: the town's choice stands
                restored = {k: v for k, v in profile.items() if k != "pinnedPost"}
                if (previous or {}).get("pinned"):
                    restored["pinnedPost"] = (previous or {})["pinned"]
                if await self._put_profile(account, restored, cid):
                    return
        raise TransientPublishError("publish.pin.busy")

    async def close(self) -> None:
        """Closes the HTTP session if this publisher opened it."""
        if self._own_http:
            await self._http.close()
            await self._xrpc.http.close()

    # --- for writers of other records (starter packs, reposts: :mod:`hub.publishers.bluesky_graph`) ---------

    @property
    def http(self) -> aiohttp.ClientSession:
        """The HTTP session every call of this publisher goes through."""
        return self._http

    async def session_of(self, account: Account) -> PdsSession:
        """The account's PDS session: logged in once, kept through the gateway."""
        return await self._session(account)

    async def with_session(self, account: Account, call: Callable[[PdsSession], Awaitable[T]]) -> T:
        """Runs ``call`` with the account's session, refreshing it once if the server says it is stale."""
        return await self._authed(account, call)

    async def resolve_handle(self, pds: str, handle: str) -> str | None:
        """A handle's DID as ``pds`` resolves it, or None."""
        return await self._resolve_handle(pds, handle)

    async def pds_of(self, did: str) -> str:
        """The PDS that holds the repo of ``did``, from its DID document."""
        return await self._pds_from_plc(did)

    # --- posting ------------------------------------------------------------------------------------------

    async def _create(self, job: PostJob, rkey: str) -> Published:
        prepared = job.prepared if job.prepared and "facets" in job.prepared else await self._prepare(job)
        try:
            return await self._create_record(job, rkey, prepared)
        except XrpcFailure as failure:
            if not self._blobs_refused(job.account, failure):
                raise
        # The uploads were refused (too large for this server, or gone after a long wait): once more, afresh.
        return await self._create_record(job, rkey, await self._prepare(job))

    async def _create_record(self, job: PostJob, rkey: str, prepared: dict[str, Any]) -> Published:
        record: dict[str, Any] = {
            "$type": POST,
            "text": job.text,
            "createdAt": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "langs": [job.language],
        }
        if prepared.get("facets"):
            record["facets"] = prepared["facets"]
        if prepared.get("embed"):
            record["embed"] = prepared["embed"]
        if job.reply_to is not None:
            parent = await self._strong_ref(job.account, job.reply_to)
            record["reply"] = {"root": parent, "parent": parent}  # the parent is a town's top-level post

        async def create(s: PdsSession) -> Published:
            # The one request of the instant, thousands at once.
            data = {"repo": s.did, "collection": POST, "rkey": rkey, "record": record}
            await self._xrpc.procedure(s.pds, "com.atproto.repo.createRecord", data, s.auth())
            return _published(s, rkey, self.app_url)

        return await self._authed(job.account, create)

    async def _existing(self, account: Account, rkey: str) -> Published | None:
        async def get(s: PdsSession) -> Published | None:
            params = {"repo": s.did, "collection": POST, "rkey": rkey}
            try:
                await self._xrpc.query(s.pds, "com.atproto.repo.getRecord", params, s.auth())
            except XrpcFailure as failure:
                if failure.error == "RecordNotFound":
                    return None
                raise
            return _published(s, rkey, self.app_url)

        return await self._authed(account, get)

    async def _strong_ref(
        self, account: Account, uri: str, gone: str = "publish.followup.parent_gone"
    ) -> dict[str, str]:
        """``{uri, cid}`` of a post of the account, read now (a reply or a pin needs the cid, not only the uri);
        ``gone`` is the error's key when the post no longer exists."""
        repo, collection, rkey = _parse_at_uri(uri)

        async def get(s: PdsSession) -> dict[str, str]:
            params = {"repo": repo, "collection": collection, "rkey": rkey}
            try:
                answer = await self._xrpc.query(s.pds, "com.atproto.repo.getRecord", params, s.auth())
            except XrpcFailure as failure:
                if failure.error == "RecordNotFound":
                    raise PermanentPublishError(gone, uri=uri) from failure
                raise
            return {"uri": text(answer, "uri"), "cid": text(answer, "cid")}

        return await self._authed(account, get)

    async def _profile(self, account: Account) -> tuple[dict[str, Any], str | None]:
        """The profile record as stored (raw JSON: fields we do not know are kept) and its cid (None: none yet)."""

        async def get(s: PdsSession) -> tuple[dict[str, Any], str | None]:
            params = {"repo": s.did, "collection": PROFILE, "rkey": "self"}
            try:
                found = await self._xrpc.query(s.pds, "com.atproto.repo.getRecord", params, s.auth())
            except XrpcFailure as failure:
                if failure.error == "RecordNotFound":
                    return {"$type": PROFILE}, None
                raise
            return dict(found.get("value") or {"$type": PROFILE}), str(found["cid"]) if "cid" in found else None

        return await self._authed(account, get)

    async def _put_profile(self, account: Account, record: dict[str, Any], cid: str | None) -> bool:
        """Writes the profile if it is still the one read (``cid``); False if it changed meanwhile."""

        async def put(s: PdsSession) -> bool:
            body: dict[str, Any] = {"repo": s.did, "collection": PROFILE, "rkey": "self", "record": record}
            if cid is not None:
                body["swapRecord"] = cid
            try:
                await self._xrpc.procedure(s.pds, "com.atproto.repo.putRecord", body, s.auth())
            except XrpcFailure as failure:
                if failure.error == "InvalidSwap":
                    return False
                raise
            return True

        return await self._authed(account, put)

    def _blobs_refused(self, account: Account, failure: XrpcFailure) -> bool:
        if failure.error == "BlobTooLarge" or failure.status == 413:
            limit = content.stated_limit(failure.message)
            self._image_bytes[account.id] = limit or self._image_limit(account) * 3 // 4
            return True
        if failure.error == "BlobNotFound":  # the PDS forgot an upload nothing pointed to yet
            return True
        return failure.status == 400 and "blob" in failure.message.lower() and "not found" in failure.message.lower()

    # --- preparing ----------------------------------------------------------------------------------------

    async def _prepare(self, job: PostJob) -> dict[str, Any]:
        session = await self._fresh_session(job.account)
        embed: dict[str, Any] | None = None
        if job.images:
            embed = await self._images_embed(job)
        elif (link := content.first_link(job.text)) is not None:
            embed = await self._card_embed(job.account, link)

        async def resolve(handle: str) -> str | None:
            return await self._resolve_handle(session.pds, handle)

        return {"embed": embed, "facets": await content.facets(job.text, resolve)}

    async def _images_embed(self, job: PostJob) -> dict[str, Any]:
        images = []
        for image in job.images[: LIMITS["max_images"]]:
            blob, fitted = await self._upload(job.account, image.data)
            ratio = {"width": fitted.width, "height": fitted.height}
            images.append({"alt": image.alt, "image": blob, "aspectRatio": ratio})
        return {"$type": "app.bsky.embed.images", "images": images}

    async def _card_embed(self, account: Account, link: str) -> dict[str, Any] | None:
        card, picture = None, None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.timeout):
                card = await content.read_card(self._http, link)
                if card is not None and card.image_url:
                    picture = await content.read_image(self._http, card.image_url)
        if card is None:
            return None
        thumb = None
        if picture is not None:
            with contextlib.suppress(ValueError, OSError):  # an unreadable image: a card without a picture
                thumb, _ = await self._upload(account, picture)
        external: dict[str, Any] = {"uri": card.uri, "title": card.title, "description": card.description}
        if thumb is not None:
            external["thumb"] = thumb
        return {"$type": "app.bsky.embed.external", "external": external}

    async def _upload(self, account: Account, data: bytes) -> tuple[Any, content.FittedImage]:
        """Uploads an image fitted to the server's limit; a stated lower limit gets one more try."""
        try:
            return await self._upload_once(account, data)
        except XrpcFailure as failure:
            if not self._blobs_refused(account, failure):
                raise
        return await self._upload_once(account, data)

    async def _upload_once(self, account: Account, data: bytes) -> tuple[Any, content.FittedImage]:
        fitted = await content.fit_image(data, self._image_limit(account))

        async def upload(s: PdsSession) -> Any:
            answer = await self._xrpc.upload(s.pds, "com.atproto.repo.uploadBlob", fitted.data, fitted.mime, s.auth())
            return field(answer, "blob")

        return await self._authed(account, upload), fitted

    def _image_limit(self, account: Account) -> int:
        return self._image_bytes.get(account.id, content.IMAGE_BYTES)

    async def _resolve_handle(self, pds: str, handle: str) -> str | None:
        """A mention's DID, or ``None``: an unknown handle stays plain text rather than failing the post."""
        try:
            answer = await self._xrpc.query(pds, "com.atproto.identity.resolveHandle", {"handle": handle})
        except (XrpcFailure, aiohttp.ClientError, TimeoutError):
            return None
        did = answer.get("did")
        return did if isinstance(did, str) else None

    # --- sessions -----------------------------------------------------------------------------------------

    async def _authed(self, account: Account, call: Callable[[PdsSession], Awaitable[T]]) -> T:
        """Runs ``call`` with the account's session, refreshing it once if the server says it is stale."""
        session = await self._session(account)
        try:
            return await call(session)
        except XrpcFailure as failure:
            if not failure.stale_token:
                raise
        return await call(await self._renew(account, session))

    async def _session(self, account: Account) -> PdsSession:
        known = self._sessions.get(account.id)
        if known is not None:  # the lock guards loading and logging in, not reading what is already here
            return known
        async with self._locks[account.id]:
            session = self._sessions.get(account.id) or PdsSession.load(await self.gateway.session(account.id))
            if session is None:
                session = await self._login(account)
            self._sessions[account.id] = session
            return session

    async def _fresh_session(self, account: Account) -> PdsSession:
        session = await self._session(account)
        return await self._renew(account, session) if session.expires_soon() else session

    async def _renew(self, account: Account, stale: PdsSession) -> PdsSession:
        """Refreshes ``stale`` (unless another job already did), logging in again only if that fails."""
        async with self._locks[account.id]:
            current = self._sessions.get(account.id)
            if current is not None and current.access_jwt != stale.access_jwt:
                return current
            stored = PdsSession.load(await self.gateway.session(account.id))
            if stored is not None and stored.access_jwt != stale.access_jwt:
                session = stored  # another process refreshed it
            else:
                session = await self._refresh(account, stale)
            self._sessions[account.id] = session
            return session

    async def _refresh(self, account: Account, stale: PdsSession) -> PdsSession:
        try:
            headers = {"Authorization": f"Bearer {stale.refresh_jwt}"}
            answer = await self._xrpc.procedure(stale.pds, "com.atproto.server.refreshSession", None, headers)
        except XrpcFailure as failure:
            if failure.status not in (400, 401):
                raise
            log.info("Bluesky session of account %s could not be refreshed (%s): logging in", account.id, failure.error)
            return await self._login(account)
        session = await self._session_from(answer, stale.pds)
        await self.gateway.save_session(account.id, session.dump())
        return session

    async def _login(self, account: Account) -> PdsSession:
        """``createSession`` with the app password, on the server the account was linked with."""
        data = {"identifier": account.identifier, "password": await self.gateway.secret(account.id)}
        answer = await self._xrpc.procedure(account.server, "com.atproto.server.createSession", data)
        log.info("Bluesky session opened for account %s", account.id)
        session = await self._session_from(answer, None)
        await self.gateway.save_session(account.id, session.dump())
        return session

    async def _session_from(self, answer: dict[str, Any], known_pds: str | None) -> PdsSession:
        did = text(answer, "did")
        pds = pds_of(answer.get("didDoc")) or known_pds or await self._pds_from_plc(did)
        access, refresh = text(answer, "accessJwt"), text(answer, "refreshJwt")
        return PdsSession(did, text(answer, "handle"), access, refresh, pds.rstrip("/"))

    async def _pds_from_plc(self, did: str) -> str:
        """The PDS named in the account's DID document (``did:plc`` from the PLC directory, or ``did:web``).

        The document is read with our HTTP session.
        """
        if did.startswith("did:web:"):
            url = f"https://{did.removeprefix('did:web:')}/.well-known/did.json"
        else:
            url = f"{self.plc_url.rstrip('/')}/{did}"
        async with self._http.get(url, timeout=aiohttp.ClientTimeout(total=self.timeout)) as answer:
            if answer.status == 404:
                raise PermanentPublishError("publish.bluesky.no_pds", reconnect=True, did=did)
            answer.raise_for_status()
            document = await answer.json(content_type=None)
        endpoint = pds_of(document)
        if not endpoint:
            raise PermanentPublishError("publish.bluesky.no_pds", reconnect=True, did=did)
        return endpoint


# --- the boundary: every failure becomes a transient or permanent publish error here ----------------------


@contextlib.asynccontextmanager
async def xrpc_boundary() -> AsyncIterator[None]:
    try:
        yield
    except PublishError:
        raise
    except Exception as exc:
        error = _publish_error(exc)
        if error is None:
            raise
        raise error from exc


def _publish_error(exc: Exception) -> PublishError | None:
    """Our error for a library or server failure, or ``None`` for a bug (which must surface as it is)."""
    if isinstance(exc, XrpcFailure):
        return _from_xrpc(exc)
    if isinstance(exc, aiohttp.ClientError | TimeoutError | ConnectionError):
        return TransientPublishError("publish.bluesky.network", detail=type(exc).__name__)
    if isinstance(exc, UnreadableAnswer):  # an answer without what it should hold: a server having a bad moment
        return TransientPublishError("publish.bluesky.unreadable", detail=type(exc).__name__)
    return None


def _from_xrpc(failure: XrpcFailure) -> PublishError:
    detail = failure.message or failure.error or str(failure.status)
    if failure.status == 429:
        return TransientPublishError("publish.bluesky.rate_limited", retry_at=_reset_at(failure.headers))
    if failure.status >= 500:
        return TransientPublishError("publish.bluesky.server", status=str(failure.status), detail=detail)
    if failure.error in _RECONNECT:
        return PermanentPublishError(_RECONNECT[failure.error], reconnect=True, detail=detail)
    if failure.status in (401, 403) or failure.error in {"AuthenticationRequired", *STALE_TOKEN}:
        return PermanentPublishError("publish.bluesky.credentials", reconnect=True, detail=detail)
    return PermanentPublishError("publish.bluesky.refused", detail=detail)


def _reset_at(headers: dict[str, str]) -> datetime | None:
    with contextlib.suppress(KeyError, ValueError, OverflowError, OSError):
        return datetime.fromtimestamp(int(headers["ratelimit-reset"]), UTC)
    return None


# --- small helpers --------------------------------------------------------------------------------------


def new_tid() -> str:
    """A fresh record key in the TID format: 53 bits of microseconds since 1970, then a 10-bit clock id."""
    value = (time.time_ns() // 1000) << 10 | secrets.randbelow(1024)
    return "".join(_TID_ALPHABET[(value >> shift) & 31] for shift in range(60, -1, -5))


def _published(session: PdsSession, rkey: str, app_url: str) -> Published:
    return Published(
        remote_id=f"at://{session.did}/{POST}/{rkey}",
        url=f"{app_url}/profile/{session.handle}/post/{rkey}",
    )


def _ref_uri(ref: object) -> str | None:
    """The uri of a strong ref read from a record, if it is one."""
    return str(ref["uri"]) if isinstance(ref, dict) and "uri" in ref else None


def _parse_at_uri(uri: str) -> tuple[str, str, str]:
    parts = uri.removeprefix("at://").split("/")
    if not uri.startswith("at://") or len(parts) != 3 or not all(parts):
        raise PermanentPublishError("publish.bluesky.bad_uri", uri=uri)
    return parts[0], parts[1], parts[2]


def _jwt_expiry(token: str) -> float:
    """The ``exp`` claim of a JWT (read, not verified: it only decides when to refresh), 0 if unreadable."""
    with contextlib.suppress(IndexError, KeyError, ValueError, TypeError):
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    return 0.0

"""Publishing to Mastodon-API servers (Mastodon, and the others that implement its client API).

Exactly once, however often a delivery is retried:

1. every ``POST /api/v1/statuses`` carries the delivery's ``Idempotency-Key``: a server that honours it and
   already created the status answers with it instead of creating another;
2. before the first request we record the time of the first attempt in the hub (:meth:`Gateway.remember_remote_key`,
   it comes back as :attr:`PostJob.remote_key`). An attempt that finds such a record may follow one whose answer
   was lost (a timeout, a dropped connection, a 5xx), so it first looks for the post among the account's own
   recent statuses, unless the server honours the key and the first attempt is recent enough for the server to
   still remember it (:data:`KEY_TRUSTED_FOR`: Mastodon keeps keys one hour). Which servers honour the key is
   read once per server (:mod:`hub.publishers.mastodon_server`); an unknown server is assumed not to.
3. Attempts at one delivery in this process run one after the other, so a look-up never races a post.

A follow-up (:attr:`PostJob.reply_to`) is a status with ``in_reply_to_id``, made and looked up the same way
(the look-up also requires the same ``in_reply_to_id``).
A pin (:meth:`MastodonPublisher.pin`) reads the status first (``pinned`` already: done, so a retry pins
nothing twice), stores the ids pinned before, then ``POST /api/v1/statuses/:id/pin`` (needs ``write:accounts``;
Mastodon keeps at most 5 pins by default); unpinning leaves the earlier pins, which Mastodon kept beside ours.

Every answer's ``X-RateLimit-*`` headers are kept per account (and per host, for pacing); a request the server
would refuse for the rate limit is not sent. Requests go on the lean wire
(:mod:`hub.publishers.wire`); HTTP failures become our transient or permanent publish errors in one place,
:mod:`hub.publishers.mastodon_errors`; statuses are recognised by :mod:`hub.publishers.mastodon_text`.
The images go up through :mod:`hub.publishers.mastodon_media`; what is read once per server (limits, software)
is kept by :mod:`hub.publishers.mastodon_instance`; pre-staging is :mod:`hub.publishers.mastodon_staging`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, ClassVar, Literal
from urllib.parse import urlencode

import aiohttp
from yarl import URL

from hub.domain import prestage
from hub.domain.model import Account, Platform
from hub.locks import KeyedLocks
from hub.publishers.base import (
    AccountCheck,
    Gateway,
    PermanentPublishError,
    PostJob,
    Published,
    Publisher,
    PublishError,
    RateLimit,
)
from hub.publishers.mastodon_answers import (
    Answer,
    answer_list,
    answer_object,
    created_at_of,
    parse_json,
    published_of,
    rate_limit_of,
)
from hub.publishers.mastodon_errors import (
    failure,
    host_of,
    is_json_error,
    permanent,
    pin_failure,
    post_not_found,
    transient,
)
from hub.publishers.mastodon_instance import Servers
from hub.publishers.mastodon_media import Media
from hub.publishers.mastodon_server import Software
from hub.publishers.mastodon_staging import Staging
from hub.publishers.mastodon_text import comparable_text, same_post
from hub.publishers.wire import SessionTransport, Transport, Wire

log = logging.getLogger(__name__)

VISIBILITIES = ("public", "unlisted", "private", "direct")
#: Mastodon forgets an Idempotency-Key an hour after the create; past this age we no longer rely on it.
KEY_TRUSTED_FOR = timedelta(minutes=50)
#: Our clock and the server's may disagree: the look-up also accepts statuses this much "older" than our record.
CLOCK_SKEW = timedelta(minutes=5)
#: The look-up reads at most this many pages of 40 statuses (a town rarely posts 400 times in an outage).
LOOKUP_PAGES = 10
PAGE_SIZE = 40

#: Mastodon counts separate rate-limit windows for these families of requests.
RequestKind = Literal["statuses", "media", "deletes", "other"]


def utc_now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


class MastodonPublisher(Publisher):
    """Publishes deliveries to Mastodon accounts; one instance serves every account of every server."""

    platform: ClassVar[Platform] = Platform.MASTODON

    def __init__(
        self,
        gateway: Gateway,
        *,
        visibility: str = "public",
        timeout: float = 10.0,
        media_timeout: float = 60.0,
        http: aiohttp.ClientSession | None = None,
        instance_ttl: float = 3600.0,
        clock: Callable[[], datetime] = utc_now,
        staging_grace: timedelta = timedelta(minutes=5),
    ) -> None:
        """``http`` is used as given (and not closed) if passed; ``clock`` dates our record of attempts;
        ``staging_grace`` is how long after the instant a pre-staged post is left to its server."""
        if visibility not in VISIBILITIES:
            raise ValueError(f"visibility must be one of {', '.join(VISIBILITIES)}, not {visibility!r}")
        self.gateway = gateway
        self.visibility = visibility
        self.timeout = timeout
        self.media_timeout = media_timeout
        self.instance_ttl = instance_ttl
        self.clock = clock
        #: Every request goes on the lean wire (:mod:`hub.publishers.wire`), unless the caller chose the session.
        self._transport: Transport = Wire() if http is None else SessionTransport(http)
        self.servers = Servers(self, instance_ttl)
        self.media = Media(self)
        self._deliveries: KeyedLocks[int] = KeyedLocks()
        self._remote_ids: dict[tuple[int, str, str], str] = {}
        self._limits: dict[tuple[int, RequestKind], RateLimit] = {}
        self._host_limits: dict[str, RateLimit] = {}
        self.staging = Staging(self, staging_grace)

    # --- the Publisher interface ---------------------------------------------------------------------

    async def verify(self, account: Account) -> AccountCheck:
        """Checks the token (``verify_credentials``) and reads the server's limits (cached per server)."""
        token = await self.gateway.secret(account.id)
        me = await self._me(account, token)
        instance = await self.servers.instance(account)
        await self.software(account)  # ahead of the instant, so that a retry then costs no extra request
        return AccountCheck(f"@{me['username']}@{instance.domain}", dict(instance.limits))

    async def prepare(self, job: PostJob) -> dict[str, Any]:
        """Uploads the images (waiting for their processing); :meth:`publish` reuses the returned ids."""
        if not job.images:
            return {}
        token = await self.gateway.secret(job.account.id)
        return {"media_ids": await self.media.upload_all(job, token)}

    async def publish(self, job: PostJob) -> Published:
        """Publishes once: Idempotency-Key where the server honours it, else a look-up before any re-post.

        A post pre-staged (:mod:`hub.publishers.mastodon_staging`) is not posted but confirmed: the server
        published it at the instant; it is posted here only if the server did not and no longer will.
        """
        # Attempts at one delivery wait for each other, so that a second one's look-up sees the first's post.
        async with self._deliveries.hold(job.delivery_id):
            token = await self.gateway.secret(job.account.id)
            if prestage.on_server(job.schedule):
                try:
                    confirmed = await self.staging.confirm(job, token)
                except PermanentPublishError as error:
                    # Its server may have published it all the same: the room is told to look before posting it
                    # by hand, and a retract takes it back (see OutboxRepository.start_retracting).
                    error.params["staged"] = "yes"
                    raise
                if confirmed is not None:
                    return confirmed
                # Looked for just now; the uploads went with the scheduled status: new ones.
                return await self._create_status(job, token, await self.media.upload_all(job, token))
            if prestage.published_early(job.schedule):
                kept = await self.staging.kept_early(job, token)
                if kept is not None:
                    return kept
                # Its uploads went with the early post, deleted since: new ones.
                job = replace(job, prepared=None)
            first_attempt, fresh = await self._first_attempt(job)
            if not fresh and await self._must_look(job.account, first_attempt):
                found = await self._find_published(job, token, first_attempt)
                if found is not None:
                    log.info("delivery %s: found already published as %s", job.delivery_id, found.remote_id)
                    return found
            media_ids = await self.media.ids(job, token)
            return await self._create_status(job, token, media_ids)

    async def stage(self, job: PostJob, at: datetime) -> dict[str, Any] | None:
        """Hands the post to its server as a scheduled status for ``at`` (see :class:`Staging`)."""
        media_ids = [str(i) for i in (job.prepared or {}).get("media_ids") or ()]
        return await self.staging.stage(job, at, media_ids)

    async def unstage(self, account: Account, schedule: dict[str, Any], text: str) -> None:
        await self.staging.unstage(account, schedule, text)

    async def delete(self, account: Account, remote_id: str) -> None:
        """Deletes a status; one already gone (404) is fine."""
        token = await self.gateway.secret(account.id)
        await self._call(account, "DELETE", f"/api/v1/statuses/{remote_id}", token, kind="deletes", accept=(404,))

    async def pin(self, job: PostJob) -> Published:
        """Pins the status, after storing the ids of those pinned before; a status already pinned is done."""
        assert job.pin_of is not None
        account, token = job.account, await self.gateway.secret(job.account.id)
        answer = await self._call(account, "GET", f"/api/v1/statuses/{job.pin_of}", token, accept=(404,))
        if answer.status == 404:
            raise permanent("publish.pin.parent_gone", account, uri=job.pin_of)
        status = answer_object(answer, account, "id")
        if status.get("pinned") is not True:
            before = await self._pinned_ids(account, token)
            await self.gateway.remember_previous_pin(job.delivery_id, {"pinned": before})
            path = f"/api/v1/statuses/{job.pin_of}/pin"
            answer = await self._call(account, "POST", path, token, accept=(403, 422))
            refused = pin_failure(answer.status, answer.body, account) if answer.status >= 400 else None
            if refused is not None:
                raise refused
        return published_of(status, account)

    async def unpin(self, account: Account, remote_id: str, previous: dict[str, Any] | None) -> None:
        """Unpins the status (the pins made before ours were left in place: Mastodon keeps several)."""
        token = await self.gateway.secret(account.id)
        await self._call(account, "POST", f"/api/v1/statuses/{remote_id}/unpin", token, accept=(404,))

    async def _pinned_ids(self, account: Account, token: str) -> list[str]:
        path = f"/api/v1/accounts/{await self._remote_id(account, token)}/statuses"
        pinned = await self._call(account, "GET", path, token, params={"pinned": "true"})
        return [str(s["id"]) for s in answer_list(pinned, account)]

    async def close(self) -> None:
        """Closes this publisher's connections (not those of a session it was given)."""
        await self._transport.close()

    # --- rate limits ---------------------------------------------------------------------------------

    def rate_limit(self, account: Account, kind: RequestKind = "statuses") -> RateLimit | None:
        """The account's last known rate-limit state for ``kind`` requests (None before any answer)."""
        return self._limits.get((account.id, kind))

    def host_rate_limit(self, server: str) -> RateLimit | None:
        """The last rate-limit state any account of ``server`` (a base URL) was given."""
        return self._host_limits.get(host_of(server))

    def host_pace(self, server: str) -> RateLimit | None:
        return self.host_rate_limit(server)

    def _check_pace(self, account: Account, kind: RequestKind) -> None:
        # The account's own windows only: the headers do not say which window they describe, so one
        # account using up its token's window must not hold back the other accounts of its server.
        now = self.clock()
        kinds: tuple[RequestKind, ...] = (kind,) if kind == "other" else (kind, "other")
        blocking = [s for k in kinds if (s := self._limits.get((account.id, k))) is not None and s.blocks(now)]
        if blocking:
            retry_at = max(s.reset for s in blocking)
            raise transient("publish.mastodon.rate_limited", account, retry_at=retry_at)

    def _note_pace(self, account: Account, kind: RequestKind, headers: Mapping[str, str]) -> None:
        state = rate_limit_of(headers)
        if state is not None:
            self._limits[(account.id, kind)] = state
            self._host_limits[host_of(account.server)] = state

    # --- exactly once ------------------------------------------------------------------------------------

    async def _first_attempt(self, job: PostJob) -> tuple[datetime, bool]:
        """When this delivery was first attempted, recorded in the hub before anything is sent, and whether this
        is that first attempt (then nothing can have been posted before it).

        The hub keeps the first key it was given, so a stale job cannot move the first attempt later.
        """
        proposed = self.clock().isoformat()
        stored = job.remote_key or await self.gateway.remember_remote_key(job.delivery_id, proposed)
        fresh = job.first_attempt or (job.remote_key is None and stored == proposed)
        try:
            moment = datetime.fromisoformat(stored)
        except ValueError:
            # Not ours: treat the delivery as attempted long ago, so the look-up runs before posting.
            return datetime.fromtimestamp(0, UTC), False
        return (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)), fresh

    async def _must_look(self, account: Account, first_attempt: datetime) -> bool:
        """Whether an attempt that may follow a lost answer must look for the post before posting: always,
        unless the server honours Idempotency-Key and still remembers the first attempt's key."""
        if self.clock() - first_attempt >= KEY_TRUSTED_FOR:
            return True
        return not (await self.software(account)).honours_idempotency

    async def _find_published(self, job: PostJob, token: str, since: datetime) -> Published | None:
        """The status this delivery already made, among the account's statuses since its first attempt."""
        return await self.find_published(job.account, token, since, job.text, len(job.images), job.reply_to)

    async def find_published(
        self, account: Account, token: str, since: datetime, text: str, images: int, reply_to: str | None = None
    ) -> Published | None:
        """The status with this text, ``images`` images, answering ``reply_to``, among the account's statuses
        made since ``since`` (give or take :data:`CLOCK_SKEW`)."""
        path = f"/api/v1/accounts/{await self._remote_id(account, token)}/statuses"
        wanted, cutoff = comparable_text(text), since - CLOCK_SKEW
        params = {"limit": str(PAGE_SIZE), "exclude_reblogs": "true"}
        for _ in range(LOOKUP_PAGES):
            page = await self._call(account, "GET", path, token, params=params)
            statuses = answer_list(page, account)
            for status in statuses:
                if created_at_of(status) < cutoff:
                    return None
                if same_post(status, wanted, images, reply_to):
                    return published_of(status, account)
            if len(statuses) < PAGE_SIZE:
                return None
            params["max_id"] = str(statuses[-1]["id"])
        return None

    async def _remote_id(self, account: Account, token: str) -> str:
        """The account's id on its server (the look-up lists statuses by it)."""
        known = self._remote_ids.get(_remote_key(account))
        return known if known is not None else str((await self._me(account, token))["id"])

    async def _me(self, account: Account, token: str) -> dict[str, Any]:
        answer = await self._call(account, "GET", "/api/v1/accounts/verify_credentials", token)
        me = answer_object(answer, account, "id", "username")
        self._remote_ids[_remote_key(account)] = str(me["id"])
        return me

    async def _create_status(self, job: PostJob, token: str, media_ids: list[str]) -> Published:
        account = job.account
        form = [("status", job.text), ("language", job.language), ("visibility", self.visibility)]
        form += [("media_ids[]", media_id) for media_id in media_ids]
        if job.reply_to is not None:
            form.append(("in_reply_to_id", job.reply_to))
        # The form encoded here, once: aiohttp's FormData costs several times more CPU, thousands of times at once.
        headers = {"Idempotency-Key": job.idempotency_key, "Content-Type": "application/x-www-form-urlencoded"}
        body = urlencode(form).encode()
        answer = await self._call(
            account, "POST", "/api/v1/statuses", token, kind="statuses", data=body, headers=headers, accept=(404,)
        )
        if answer.status == 404:
            raise self._post_not_found(account, answer)
        return published_of(answer_object(answer, account, "id"), account)

    def _post_not_found(self, account: Account, answer: Answer) -> PublishError:
        """A 404 to a post: on a server that honours the key, its replay found the status deleted (published,
        then removed by someone); elsewhere something the post refers to is unknown (Takahē: a media id)."""
        software = self.servers.known_software(account.server)
        replayed = is_json_error(answer.body) and (software.honours_idempotency or not software.known)
        return post_not_found(answer.body, account, replayed=replayed)

    async def software(self, account: Account) -> Software:
        """The software of the account's server (see :meth:`Servers.software`)."""
        return await self.servers.software(account)

    # --- HTTP ----------------------------------------------------------------------------------------

    async def request(self, account: Account, method: str, path: str, token: str | None, **options: Any) -> Answer:
        """One request to the account's server (see :meth:`_call`)."""
        return await self._call(account, method, path, token, **options)

    async def _call(
        self,
        account: Account,
        method: str,
        path: str,
        token: str | None,
        *,
        kind: RequestKind = "other",
        accept: tuple[int, ...] = (),
        time_limit: float | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        data: Any = None,
    ) -> Answer:
        """One request; a failing answer (other than those in ``accept``) raises a publish error.

        ``params`` go in the query, ``data`` is the body: a form as pairs or a dict (sent URL-encoded), or
        aiohttp's ``FormData`` (multipart: media)."""
        if token is not None:
            self._check_pace(account, kind)
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        url = _url(account.server + path)
        if params is not None:
            url = url.update_query(params)
        if isinstance(data, list | dict):
            sent["Content-Type"] = "application/x-www-form-urlencoded"
            data = urlencode(data).encode()
        try:
            reply = await self._transport.exchange(method, url, sent, data, time_limit or self.timeout)
        except (aiohttp.ClientError, TimeoutError) as error:
            detail = str(error) or type(error).__name__
            raise transient("publish.mastodon.unreachable", account, detail=detail) from error
        if token is not None:
            self._note_pace(account, kind, reply.headers)
        body = parse_json(reply.body, reply.charset)
        if reply.status >= 400 and reply.status not in accept:
            raise failure(reply.status, body, account, rate_limit_of(reply.headers))
        return Answer(reply.status, body)


@lru_cache(maxsize=256)
def _url(address: str) -> URL:
    """An address parsed once: thousands of posts at one instant go to the same few ``/api/v1/statuses``."""
    return URL(address)


def _remote_key(account: Account) -> tuple[int, str, str]:
    # A re-link may point the same hub account at another Mastodon account: never reuse a stale id.
    return (account.id, account.server, account.identifier)

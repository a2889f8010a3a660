"""Pre-staging on Mastodon: a post handed to its server ahead of time as a scheduled status, so that it goes out
at the minute even if the hub is down then (the rules are :mod:`hub.domain.prestage`).

- :meth:`Staging.stage` (at the pre-flight): first the account's scheduled statuses are read, once for its limits
  (25 a day, 300 pending) and once to find one this delivery already made (an attempt whose answer was lost);
  then ``sending`` is committed in the hub and ``POST /api/v1/statuses`` sent with ``scheduled_at`` and an
  Idempotency-Key of its own (the delivery's key stays free for a post made at the instant). A server that
  answers with a published status ignores ``scheduled_at``: the status is deleted at once, the server is not
  asked again, and the post is made at the instant as without pre-staging.
- :meth:`Staging.confirm` (at or after the instant, instead of posting): ``GET /api/v1/scheduled_statuses/:id``
  answering 404 means the server published it; the status is then found among the account's own and recorded
  as if the dispatcher had made it. Still pending ``grace`` after the instant (the server's queue is stuck), it
  is taken back and posted by the hub; gone with no status to show for it, it is posted by the hub too.
- :meth:`Staging.unstage` (an unlock, a cancel): the scheduled status is deleted; if the server
  published it meanwhile, the status itself is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from hub.domain import prestage
from hub.domain.model import Account
from hub.locks import KeyedLocks
from hub.publishers.base import Gateway, PostJob, Published, PublishError
from hub.publishers.mastodon_answers import Answer, answer_list, answer_object
from hub.publishers.mastodon_errors import host_of, transient
from hub.publishers.mastodon_server import Software
from hub.publishers.mastodon_text import comparable_text

log = logging.getLogger(__name__)

#: Software known to answer a post with ``scheduled_at`` by publishing it at once (Takahē 0.11): not asked.
IGNORES_SCHEDULED_AT = frozenset({"takahe"})
#: How often a scheduled status not yet published is looked at again after the instant.
CONFIRM_EVERY = timedelta(seconds=5)
#: A scheduled status gone but its status not yet listed: the server may be publishing it (Mastodon deletes the
#: scheduled status, then creates the status). Looked for again during this long before the hub posts it.
SETTLE = timedelta(seconds=20)
#: How far before the instant a post published early is looked for (the pre-flight begins 15 minutes before).
EARLY_LOOK = timedelta(hours=2)
#: The scheduled statuses read at most (Mastodon keeps at most 300 per account), 40 a page.
PAGE_SIZE, PAGES = 40, 8


class Server(Protocol):
    """What staging needs of :class:`~hub.publishers.mastodon.MastodonPublisher`."""

    gateway: Gateway
    visibility: str
    clock: Callable[[], datetime]

    async def request(self, account: Account, method: str, path: str, token: str | None, **options: Any) -> Answer: ...

    async def software(self, account: Account) -> Software: ...

    async def find_published(
        self, account: Account, token: str, since: datetime, text: str, images: int, reply_to: str | None = None
    ) -> Published | None: ...


@dataclass
class Staging:
    server: Server
    #: How long after the instant a scheduled status still pending is left to its server.
    grace: timedelta = timedelta(minutes=5)

    def __post_init__(self) -> None:
        self._accounts: KeyedLocks[int] = KeyedLocks()
        self._servers: KeyedLocks[str] = KeyedLocks()
        #: Servers found at run time to publish at once what they were asked to schedule (for this process).
        self._ignoring: set[str] = set()
        #: Servers seen to answer with a scheduled status: their accounts are staged side by side.
        self._proven: set[str] = set()
        #: Servers whose record in the store was read: the first staging on each asks it once.
        self._recalled: set[str] = set()

    async def stage(self, job: PostJob, at: datetime, media_ids: list[str]) -> dict[str, Any]:
        """Hands the post over for ``at``; returns its new ``schedule`` (see :mod:`hub.domain.prestage`)."""
        account = job.account
        if prestage.state_of(job.schedule) == prestage.STAGED or prestage.published_early(job.schedule):
            return dict(job.schedule or {})  # done before: an early post in particular stays on record
        if not await self.supports(account):
            return self._not_asked(job)
        # Until a server has shown it schedules, its accounts are staged one at a time: a server that ignores
        # scheduled_at then publishes one post early, not one per account.
        async with self._servers.hold(account.server) if account.server not in self._proven else nullcontext():
            if account.server in self._ignoring:
                return self._not_asked(job)
            return await self._stage_one(job, at, media_ids)

    @staticmethod
    def _not_asked(job: PostJob) -> dict[str, Any]:
        """A server not asked to schedule: nothing waits there, unless an earlier staging of this very post may
        have been sent (``sending``), which the instant must look for (it may have been published early)."""
        if prestage.state_of(job.schedule) == prestage.SENDING:
            return dict(job.schedule or {})
        return prestage.declined(prestage.UNSUPPORTED)

    async def _stage_one(self, job: PostJob, at: datetime, media_ids: list[str]) -> dict[str, Any]:
        account = job.account
        token = await self.server.gateway.secret(account.id)
        # One account's posts one after the other: each sees the scheduled statuses the previous one made.
        async with self._accounts.hold(account.id):
            pending = await self._pending(account, token)
            mine = _matching(pending, job.text, at)
            if mine:
                log.info("delivery %s: already staged as %s", job.delivery_id, mine[0])
                return prestage.staged(at, mine[0], len(job.images))
            if prestage.over_limit((_instant(s) for s in pending), at):
                return prestage.declined(prestage.OVER_LIMIT)
            await self.server.gateway.remember_schedule(job.delivery_id, prestage.sending(at, len(job.images)))
            try:
                return await self._send(job, token, at, media_ids)
            except PublishError as error:  # maybe made, maybe not: the instant looks before anything else
                log.info("delivery %s: staging unsure (%s)", job.delivery_id, error.message_key)
                return prestage.sending(at, len(job.images))

    async def supports(self, account: Account) -> bool:
        """Whether the account's server is worth asking to schedule: not if its software is known to ignore
        ``scheduled_at``, nor if it was found to (by this process, or in the store: by another, or before a
        restart, so that no restart costs a town another early post)."""
        server = account.server
        if server not in self._recalled:
            async with self._servers.hold(server):  # read once: the server's other accounts wait for the answer
                if server not in self._recalled:
                    if await self.server.gateway.ignores_scheduling(server):
                        self._ignoring.add(server)
                    self._recalled.add(server)
        if server in self._ignoring:
            return False
        return (await self.server.software(account)).name not in IGNORES_SCHEDULED_AT

    async def _send(self, job: PostJob, token: str, at: datetime, media_ids: list[str]) -> dict[str, Any]:
        account = job.account
        form = [("status", job.text), ("language", job.language), ("visibility", self.server.visibility)]
        form += [("media_ids[]", media_id) for media_id in media_ids]
        form.append(("scheduled_at", _iso(at)))
        headers = {"Idempotency-Key": f"{job.idempotency_key}-staged"}
        answer = await self.server.request(
            account, "POST", "/api/v1/statuses", token, kind="statuses", data=form, headers=headers, accept=(422,)
        )
        if answer.status == 422:
            said = str(answer.body.get("error", "")) if isinstance(answer.body, dict) else ""
            # Mastodon: "You have exceeded the limit of 25 scheduled posts for today" (or of 300 in all).
            reason = prestage.OVER_LIMIT if "scheduled" in said.lower() else prestage.REFUSED
            log.info("delivery %s: not staged (%s: %s)", job.delivery_id, reason, said[:200])
            return prestage.declined(reason)
        body = answer_object(answer, account, "id")
        if "scheduled_at" in body and "params" in body:
            self._proven.add(account.server)
            return prestage.staged(at, str(body["id"]), len(job.images))
        return await self._published_early(job, token, at, body)

    async def _published_early(self, job: PostJob, token: str, at: datetime, status: dict[str, Any]) -> dict[str, Any]:
        """The server ignored ``scheduled_at`` and published the post: it is deleted at once, and the server is
        not asked to schedule again; the post is made at the instant."""
        account = job.account
        self._ignoring.add(account.server)
        await self.server.gateway.found_ignoring_scheduling(account.server)
        url = str(status.get("url") or status.get("uri") or "")
        log.warning(
            "%s ignores scheduled_at: delivery %s was published early, deleting it",
            host_of(account.server),
            job.delivery_id,
        )
        path = f"/api/v1/statuses/{status['id']}"
        try:
            await self.server.request(account, "DELETE", path, token, kind="deletes", accept=(404,))
            deleted = "yes"
        except PublishError as error:
            log.warning(
                "delivery %s: the early post %s could not be deleted (%s)", job.delivery_id, url, error.message_key
            )
            deleted = "no"
        return prestage.declined(prestage.PUBLISHED_EARLY, url=url, deleted=deleted, at=at.isoformat())

    async def kept_early(self, job: PostJob, token: str) -> Published | None:
        """The post a server published early, if it is still there (it could not be deleted): it is out, so it
        stands for the delivery (the coordinators were told) rather than be made a second time."""
        schedule = job.schedule or {}
        at = prestage.instant_of(schedule) or self.server.clock()
        return await self.server.find_published(job.account, token, at - EARLY_LOOK, job.text, len(job.images))

    # --- at the instant ----------------------------------------------------------------------------------

    async def confirm(self, job: PostJob, token: str) -> Published | None:
        """The status the server published for this delivery; None when the hub must post it now (nothing was
        published and nothing waits any more). Raises a transient error to be asked again a little later."""
        account, schedule = job.account, job.schedule or {}
        at = prestage.instant_of(schedule) or self.server.clock()
        scheduled_id = schedule.get("id") if prestage.state_of(schedule) == prestage.STAGED else None
        if scheduled_id is None:  # the answer to the staging was lost: look for what it made
            found = _matching(await self._pending(account, token), job.text, at)
            scheduled_id = found[0] if found else None
        if scheduled_id is not None:
            path = f"/api/v1/scheduled_statuses/{scheduled_id}"
            answer = await self.server.request(account, "GET", path, token, accept=(404,))
            if answer.status == 200:
                if self.server.clock() < at + self.grace:
                    raise self._wait(account, at)
                if await self._take_back(account, token, str(scheduled_id)):
                    log.warning(
                        "delivery %s: still scheduled %s after the instant, posting it", job.delivery_id, self.grace
                    )
                    return None
        # No scheduled status known: a staging whose answer was lost may have been published early (a server
        # that ignores scheduled_at), so the look goes back as far as the pre-flight.
        since = at if scheduled_id is not None else at - EARLY_LOOK
        published = await self.server.find_published(account, token, since, job.text, len(job.images))
        if published is not None:
            return published
        if self.server.clock() < at + SETTLE:
            raise self._wait(account, at)
        log.warning("delivery %s: its scheduled status is gone without a post, posting it", job.delivery_id)
        return None

    def _wait(self, account: Account, at: datetime) -> PublishError:
        retry_at = max(at, self.server.clock()) + CONFIRM_EVERY
        return transient("publish.mastodon.staged_waiting", account, retry_at=retry_at)

    async def _take_back(self, account: Account, token: str, scheduled_id: str) -> bool:
        """Deletes a scheduled status; False if it was gone (published or deleted meanwhile)."""
        path = f"/api/v1/scheduled_statuses/{scheduled_id}"
        answer = await self.server.request(account, "DELETE", path, token, accept=(404,))
        return answer.status != 404

    # --- taking back -------------------------------------------------------------------------------------

    async def unstage(self, account: Account, schedule: Mapping[str, Any], text: str) -> None:
        """Deletes the scheduled status; if it was published meanwhile, deletes the status."""
        token = await self.server.gateway.secret(account.id)
        at = prestage.instant_of(dict(schedule))
        if at is None:
            return
        ids = [str(schedule["id"])] if schedule.get("id") else _matching(await self._pending(account, token), text, at)
        if ids and all([await self._take_back(account, token, i) for i in ids]):
            return
        if self.server.clock() < at:
            return  # not published yet, so gone (or never made)
        images = int(schedule.get("images") or 0)
        published = await self.server.find_published(account, token, at, text, images)
        if published is not None:
            path = f"/api/v1/statuses/{published.remote_id}"
            await self.server.request(account, "DELETE", path, token, kind="deletes", accept=(404,))
            log.info(
                "%s: deleted %s, published from a scheduled status taken back too late",
                account.identifier,
                published.url,
            )

    async def _pending(self, account: Account, token: str) -> list[dict[str, Any]]:
        """The account's scheduled statuses; none where the server has no such list (404)."""
        found: list[dict[str, Any]] = []
        params = {"limit": str(PAGE_SIZE)}
        for _ in range(PAGES):
            answer = await self.server.request(
                account, "GET", "/api/v1/scheduled_statuses", token, params=params, accept=(404,)
            )
            if answer.status == 404:
                return found
            page = answer_list(answer, account)
            found += page
            if len(page) < PAGE_SIZE:
                break
            params["max_id"] = str(page[-1]["id"])
        return found


def _matching(pending: list[dict[str, Any]], text: str, at: datetime) -> list[str]:
    """The ids of the scheduled statuses with this text for this instant (within a second)."""
    wanted = comparable_text(text)
    found = []
    for scheduled in pending:
        params = scheduled.get("params") or {}
        same_text = comparable_text(str(params.get("text") or "")) == wanted
        if same_text and abs((_instant(scheduled) - at).total_seconds()) < 1 and not params.get("in_reply_to_id"):
            found.append(str(scheduled["id"]))
    return found


def _instant(scheduled: dict[str, Any]) -> datetime:
    try:
        moment = datetime.fromisoformat(str(scheduled.get("scheduled_at")))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

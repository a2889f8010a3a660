"""A light crowd of Matrix users over plain HTTP, for the bot's scale tests and benchmark.

Hundreds of users without a Matrix SDK and without encryption: registered with the shared-secret admin API,
exempted from rate limits, joined to one room, where they send commands, reactions and redactions in waves
spread over a chosen time, a bounded number at once. An :class:`Observer` follows the room with one ``/sync``
loop (fetching the gap of a ``limited`` timeline with ``/messages``) and notes when each event arrived, so that
a test finds the bot's replies (``m.in_reply_to``) and the current text of its card (the latest ``m.replace``).
:func:`coalition_room` sets the usual scene (a coalition of real communes in the hub, its room, its officers);
:class:`BotProcess` runs the bot as production does, as a process that can be killed::

    async with Crowd(hs) as crowd:
        coordinator, *officers = await crowd.enlist(["coordination", *names], admin_token=admin_token)
        room_id = await crowd.create_room(coordinator, invite=[bot_id])
        await crowd.join(room_id, officers)
        async with Observer(crowd, coordinator, room_id, senders=[bot_id]) as room:
            await crowd.wave([crowd.reaction(o, room_id, card, "✅") for o in officers], within=10)
            await room.wait(lambda: signed_count(room.text_of(card) or "") == len(officers), within=30)

Loopback only. Every loop is bounded in count and in time; a refused request raises :class:`CrowdError`.
"""

from __future__ import annotations

import asyncio
import csv
import itertools
import json
import os
import random
import re
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote

import aiohttp

from bot.card import CARD
from bot.settings import BotSettings
from hub.core import OPERATOR, Hub
from hub.domain.model import Coalition, Town
from hub.reference import RefEntry, communes
from hub.settings import Settings
from sandbox.process import stop
from sandbox.synapse import RunningSynapse

PASSWORD = "mot-de-passe-de-la-foule"
#: A 429 is waited out (as the server asks) at most this many times per request, each wait at most this long.
_MAX_RETRIES = 5
_MAX_RETRY_WAIT = 10.0
_REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=60)
#: How far back the observer pages to fill the gap of one ``limited`` sync.
_GAP_PAGES = 50
_PAGE_SIZE = 100
_SYNC_TIMEOUT_MS = 5_000
_SYNC_FAILURES = 10
_transactions = itertools.count(1)
T = TypeVar("T")


class CrowdError(RuntimeError):
    """The homeserver refused a request of the crowd."""


def now() -> float:
    """The clock of every time noted here (monotonic seconds)."""
    return time.monotonic()


@dataclass(frozen=True, slots=True)
class Member:
    """One user of the crowd, with the access token it speaks with."""

    user_id: str
    token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Sent:
    """An event a member sent: its id, and when the send started and when the server accepted it."""

    event_id: str
    sender: str
    started: float
    at: float


@dataclass(frozen=True, slots=True)
class Seen:
    """An event as the observer received it, and when."""

    event: dict[str, Any]
    at: float

    @property
    def event_id(self) -> str:
        return str(self.event.get("event_id", ""))

    @property
    def content(self) -> dict[str, Any]:
        content: dict[str, Any] = self.event.get("content") or {}
        return content

    @property
    def in_reply_to(self) -> str | None:
        target = self.content.get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id")
        return None if target is None else str(target)

    @property
    def replaces(self) -> str | None:
        """The event an edit replaces, or None for an ordinary message."""
        relation = self.content.get("m.relates_to", {})
        return str(relation.get("event_id")) if relation.get("rel_type") == "m.replace" else None

    @property
    def text(self) -> str:
        """The plain text clients show: an edit's new content, else the body."""
        shown = self.content.get("m.new_content", self.content) if self.replaces else self.content
        return str(shown.get("body", ""))


class Crowd:
    """Many Matrix users on one homeserver, speaking over one HTTP session, ``concurrency`` requests at once."""

    def __init__(self, hs: RunningSynapse, *, concurrency: int = 16) -> None:
        self.hs = hs
        self.members: list[Member] = []
        self._slots = asyncio.Semaphore(concurrency)
        self._limit = concurrency
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        # A few connections more than the crowd uses, for the observers' long polls.
        connector = aiohttp.TCPConnector(limit=self._limit + 8)
        self._http = aiohttp.ClientSession(connector=connector, timeout=_REQUEST_TIMEOUT)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    # -- people ---------------------------------------------------------------------------------------------

    async def enlist(self, localparts: Sequence[str], *, admin_token: str | None = None) -> list[Member]:
        """Registers a user per localpart (a bounded number at once), exempted from rate limits if an admin's
        token is given; returns them in order and adds them to :attr:`members`."""

        async def one(localpart: str) -> Member:
            async with self._slots:
                user_id, token = await self.hs.register(localpart, PASSWORD)
                if admin_token is not None:
                    await self.hs.exempt_from_rate_limits(user_id, admin_token)
            return Member(user_id, token)

        enlisted = await _all(one(localpart) for localpart in localparts)
        self.members.extend(enlisted)
        return enlisted

    # -- rooms ------------------------------------------------------------------------------------------------

    async def create_room(self, creator: Member, *, invite: Sequence[str] = ()) -> str:
        """A room anyone on the server may join (no invitations to send to a crowd), unencrypted."""
        body = {"preset": "public_chat", "visibility": "private", "invite": list(invite)}
        answer = await self.call(creator, "POST", "/createRoom", body)
        return str(answer["room_id"])

    async def invite(self, inviter: Member, room_id: str, user_id: str) -> None:
        await self.call(inviter, "POST", f"/rooms/{_q(room_id)}/invite", {"user_id": user_id})

    async def join(self, room_id: str, members: Sequence[Member]) -> None:
        """Every member joins ``room_id``, a bounded number at once."""
        await _all(self.call(m, "POST", f"/rooms/{_q(room_id)}/join", {}) for m in members)

    async def membership(self, reader: Member, room_id: str, user_id: str) -> str | None:
        path = f"/rooms/{_q(room_id)}/state/m.room.member/{_q(user_id)}"
        try:
            answer = await self.call(reader, "GET", path)
        except CrowdError:
            return None
        return str(answer.get("membership"))

    async def wait_member(self, reader: Member, room_id: str, user_id: str, *, within: float = 30.0) -> None:
        """Waits until ``user_id`` has joined ``room_id``; raises :class:`CrowdError` after ``within`` seconds."""
        deadline = now() + within
        while await self.membership(reader, room_id, user_id) != "join":
            if now() > deadline:
                raise CrowdError(f"{user_id} had not joined {room_id} after {within} s")
            await asyncio.sleep(0.1)

    # -- speaking ---------------------------------------------------------------------------------------------

    async def send(self, member: Member, room_id: str, event_type: str, content: dict[str, Any]) -> Sent:
        path = f"/rooms/{_q(room_id)}/send/{_q(event_type)}/{_transaction()}"
        started = now()
        answer = await self.call(member, "PUT", path, content)
        return Sent(str(answer["event_id"]), member.user_id, started, now())

    async def say(self, member: Member, room_id: str, body: str) -> Sent:
        return await self.send(member, room_id, "m.room.message", {"msgtype": "m.text", "body": body})

    async def react(self, member: Member, room_id: str, target: str, key: str) -> Sent:
        relation = {"rel_type": "m.annotation", "event_id": target, "key": key}
        return await self.send(member, room_id, "m.reaction", {"m.relates_to": relation})

    async def redact(self, member: Member, room_id: str, event_id: str) -> Sent:
        path = f"/rooms/{_q(room_id)}/redact/{_q(event_id)}/{_transaction()}"
        started = now()
        answer = await self.call(member, "PUT", path, {})
        return Sent(str(answer["event_id"]), member.user_id, started, now())

    def saying(self, member: Member, room_id: str, body: str) -> Callable[[], Awaitable[Sent]]:
        """:meth:`say`, to be started by :meth:`wave`."""
        return lambda: self.say(member, room_id, body)

    def reaction(self, member: Member, room_id: str, target: str, key: str) -> Callable[[], Awaitable[Sent]]:
        """:meth:`react`, to be started by :meth:`wave`."""
        return lambda: self.react(member, room_id, target, key)

    async def wave(
        self,
        sends: Sequence[Callable[[], Awaitable[Sent]]],
        *,
        within: float,
        on_sent: Callable[[Sent], None] | None = None,
    ) -> list[Sent]:
        """Starts ``sends`` evenly spread over ``within`` seconds (at most ``concurrency`` in flight); returns
        what was sent, in order. ``on_sent`` is told of each as soon as the server accepted it."""
        start = now()
        step = within / max(len(sends), 1)

        async def one(index: int, send: Callable[[], Awaitable[Sent]]) -> Sent:
            await asyncio.sleep(max(0.0, start + index * step - now()))
            sent = await send()
            if on_sent is not None:
                on_sent(sent)
            return sent

        return await _all(one(i, send) for i, send in enumerate(sends))

    # -- reading ----------------------------------------------------------------------------------------------

    async def messages(
        self, reader: Member, room_id: str, *, event_filter: dict[str, Any] | None = None, pages: int = 100
    ) -> list[dict[str, Any]]:
        """The room's events from the newest back, at most ``pages`` pages of 100, returned oldest first."""
        events: list[dict[str, Any]] = []
        start: str | None = None
        for _ in range(pages):
            chunk, start = await self.page(reader, room_id, start, event_filter)
            events.extend(chunk)
            if start is None:
                break
        return events[::-1]

    async def page(
        self, reader: Member, room_id: str, start: str | None, event_filter: dict[str, Any] | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of ``/messages`` backwards from ``start`` (the newest if None): its events, newest first,
        and where the next page starts (None at the beginning of the room)."""
        query: dict[str, str] = {"dir": "b", "limit": str(_PAGE_SIZE)}
        if start is not None:
            query["from"] = start
        if event_filter is not None:
            query["filter"] = json.dumps(event_filter)
        answer = await self.call(reader, "GET", f"/rooms/{_q(room_id)}/messages", query=query)
        chunk: list[dict[str, Any]] = answer.get("chunk", [])
        end = answer.get("end")
        return chunk, (str(end) if chunk and end else None)

    async def call(
        self,
        member: Member,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        query: dict[str, str] | None = None,
        slot: bool = True,
    ) -> dict[str, Any]:
        """One client-server API call as ``member`` (``path`` under ``/_matrix/client/v3``); waits out 429s."""
        if self._http is None:
            raise CrowdError("use the crowd as `async with Crowd(hs) as crowd`")
        url = f"{self.hs.url}/_matrix/client/v3{path}"
        headers = {"Authorization": f"Bearer {member.token}"}
        for _ in range(_MAX_RETRIES + 1):
            if slot:
                async with self._slots:
                    status, answer = await self._request(method, url, headers, body, query)
            else:
                status, answer = await self._request(method, url, headers, body, query)
            if status != 429:
                break
            await asyncio.sleep(min(float(answer.get("retry_after_ms", 1000)) / 1000, _MAX_RETRY_WAIT))
        if status != 200:
            raise CrowdError(f"{method} {path} as {member.user_id} answered {status}: {answer}")
        return answer

    async def _request(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: dict[str, Any] | None,
        query: dict[str, str] | None,
    ) -> tuple[int, dict[str, Any]]:
        assert self._http is not None
        async with self._http.request(method, url, headers=headers, json=body, params=query) as response:
            answer: dict[str, Any] = await response.json(content_type=None)
            return response.status, answer


class Observer:
    """One member's ``/sync`` loop over one room: each timeline event (of ``senders``, of ``types``, if given),
    in the room's order, with the time it arrived. Use as ``async with Observer(...) as room``.

    A sync whose timeline is ``limited`` is completed with ``/messages`` back to the last event already seen
    (or to the observer's start), so the observer misses nothing however fast the room goes.
    """

    def __init__(
        self,
        crowd: Crowd,
        member: Member,
        room_id: str,
        *,
        senders: Sequence[str] | None = None,
        types: Sequence[str] | None = None,
        lifetime: float = 3600.0,
    ) -> None:
        self.crowd = crowd
        self.member = member
        self.room_id = room_id
        self.seen: list[Seen] = []
        self._ids: set[str] = set()
        self._timeline: dict[str, Any] = {"limit": _PAGE_SIZE}
        if senders is not None:
            self._timeline["senders"] = list(senders)
        if types is not None:
            self._timeline["types"] = list(types)
        self._lifetime = lifetime
        self._since = ""
        self._started_ms = 0
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        self._started_ms = int(time.time() * 1000)
        # The first sync only gives the token to start from: the room's past is not observed.
        answer = await self._sync(timeout_ms=0, limit=0)
        self._since = str(answer["next_batch"])
        self._task = asyncio.create_task(self._run(), name=f"observer {self.member.user_id}")
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    # -- what was seen ----------------------------------------------------------------------------------------

    def replies(self) -> dict[str, Seen]:
        """The first reply (not an edit) to each event that got one, by the id of the event it answers."""
        found: dict[str, Seen] = {}
        for seen in self.seen:
            target = seen.in_reply_to
            if target is not None and seen.replaces is None:
                found.setdefault(target, seen)
        return found

    def edits_of(self, event_id: str) -> list[Seen]:
        return [s for s in self.seen if s.replaces == event_id]

    def text_of(self, event_id: str) -> str | None:
        """The text of ``event_id`` as clients show it (its latest edit), or None if neither was seen."""
        edits = self.edits_of(event_id)
        if edits:
            return edits[-1].text
        return next((s.text for s in self.seen if s.event_id == event_id), None)

    def first(self, check: Callable[[Seen], bool]) -> Seen | None:
        return next((s for s in self.seen if check(s)), None)

    async def wait(self, check: Callable[[], bool], *, within: float) -> bool:
        """Waits until ``check()`` holds (re-checked after every sync); False if ``within`` seconds pass first."""
        deadline = now() + within
        while not check():
            left = deadline - now()
            if left <= 0:
                return False
            self._changed.clear()
            try:
                async with asyncio.timeout(min(left, 1.0)):
                    await self._changed.wait()
            except TimeoutError:
                pass
        return True

    # -- the loop ---------------------------------------------------------------------------------------------

    async def _run(self) -> None:
        ends = now() + self._lifetime
        failures = 0
        while now() < ends:
            try:
                answer = await self._sync(timeout_ms=_SYNC_TIMEOUT_MS, limit=_PAGE_SIZE)
            except (CrowdError, aiohttp.ClientError, TimeoutError):
                failures += 1
                if failures >= _SYNC_FAILURES:
                    raise
                await asyncio.sleep(0.5 * failures)
                continue
            failures = 0
            await self._take(answer)

    async def _sync(self, *, timeout_ms: int, limit: int) -> dict[str, Any]:
        sync_filter = {
            "presence": {"types": []},
            "account_data": {"types": []},
            "room": {
                "rooms": [self.room_id],
                "timeline": {**self._timeline, "limit": limit},
                "state": {"types": []},
                "ephemeral": {"types": []},
                "account_data": {"types": []},
            },
        }
        query = {"timeout": str(timeout_ms), "filter": json.dumps(sync_filter)}
        if self._since:
            query["since"] = self._since
        # A long poll holds no crowd slot: the crowd's sends must not wait behind it.
        return await self.crowd.call(self.member, "GET", "/sync", query=query, slot=False)

    async def _take(self, answer: dict[str, Any]) -> None:
        arrived = now()
        timeline = answer.get("rooms", {}).get("join", {}).get(self.room_id, {}).get("timeline", {})
        events: list[dict[str, Any]] = timeline.get("events", [])
        if timeline.get("limited") and timeline.get("prev_batch"):
            events = await self._gap(str(timeline["prev_batch"])) + events
        for event in events:
            event_id = str(event.get("event_id", ""))
            if event_id not in self._ids:
                self._ids.add(event_id)
                self.seen.append(Seen(event, arrived))
        self._since = str(answer["next_batch"])
        self._changed.set()

    async def _gap(self, start: str) -> list[dict[str, Any]]:
        """The events before a limited timeline, back to one already seen or to the observer's start."""
        gap: list[dict[str, Any]] = []
        here: str | None = start
        for _ in range(_GAP_PAGES):
            if here is None:
                break
            chunk, here = await self.crowd.page(self.member, self.room_id, here, self._timeline)
            for event in chunk:
                if event.get("event_id") in self._ids or int(event.get("origin_server_ts", 0)) < self._started_ms:
                    return gap[::-1]
                gap.append(event)
        return gap[::-1]


# -- the bot's card ---------------------------------------------------------------------------------------------

#: The number of signed towns on the card's counts line ("Signé : 1 600 · Refusé : …", "Signed: 300 · …").
_SIGNED = re.compile(r"\bSign(?:ée?s?|ed)\s*:\s*(\d[\d \u00a0\u202f.,]*)")


def signed_count(card_text: str) -> int | None:
    """How many towns the card says have signed, or None if it shows no counts line."""
    match = _SIGNED.search(card_text)
    if match is None:
        return None
    return int(re.sub(r"\D", "", match.group(1)))


# -- a coalition's room --------------------------------------------------------------------------------------

TEXT = "{ville} quitte X ! Suivez-nous sur {site} #AuRevoirX"


@dataclass(frozen=True)
class CoalitionRoom:
    """A coalition of real communes in the hub, bound to a room where its coordinator and some officers are."""

    hub: Hub
    crowd: Crowd
    room_id: str
    coalition: Coalition
    coordinator: Member
    #: The towns whose officer is a member of the crowd, with that officer, by town id.
    officers: dict[int, Member]
    towns: list[Town]
    #: Members who hold no role (they send commands).
    speakers: list[Member]

    async def announce(self, title: str = "Départ de X", text: str = TEXT, *, within: float = 60.0) -> tuple[int, str]:
        """The coordinator proposes with ``!annonce``; returns the announcement's number and its card's event id
        once the bot has posted the card (and the hub remembers it). Raises :class:`CrowdError` after
        ``within`` seconds without a card."""
        before = {a.id for a in await self.hub.announcements.list(self.coalition.id)}
        await self.crowd.say(self.coordinator, self.room_id, f"!annonce {title}\n{text}")
        deadline = now() + within
        while now() < deadline:
            for announcement in await self.hub.announcements.list(self.coalition.id):
                if announcement.id in before:
                    continue
                if cards := await self.hub.announcements.messages(announcement.id, CARD):
                    return announcement.id, cards[0].message_id
            await asyncio.sleep(0.2)
        raise CrowdError(f"the bot posted no card within {within} s of !annonce")


async def coalition_room(
    hub: Hub,
    crowd: Crowd,
    workdir: Path,
    *,
    bot_id: str,
    towns: int,
    officers: int,
    speakers: int = 0,
    admin_token: str | None = None,
) -> CoalitionRoom:
    """A coalition of ``towns`` real communes, imported from a CSV as in production, in a new room.

    The first ``officers`` towns get an officer from the crowd (registered, exempted from rate limits with
    ``admin_token``, joined); the others an officer who never speaks (not even registered). ``speakers``
    members without a role join too. The bot (which must be running) is invited and has joined on return.
    """
    tag = uuid.uuid4().hex[:6]
    chosen = random.Random(towns).sample(list(communes()), towns)
    codes = [entry.code.lower() for entry in chosen]
    names = [f"coordination-{tag}", *(f"referent-{c}-{tag}" for c in codes[:officers])]
    coordinator, *people = await crowd.enlist(
        names + [f"voix-{i}-{tag}" for i in range(speakers)], admin_token=admin_token
    )
    active, talkers = people[:officers], people[officers:]
    room_id = await crowd.create_room(coordinator)
    coalition = await hub.coalitions.create(OPERATOR, f"Coalition {tag}", room_id)
    await hub.coalitions.appoint_coordinator(OPERATOR, coalition.id, coordinator.user_id)
    silent = [f"@referent.{c}.{tag}:{crowd.hs.server_name}" for c in codes[officers:]]
    path = workdir / f"villes-{tag}.csv"
    await asyncio.to_thread(_write_towns, path, chosen, [m.user_id for m in active] + silent)
    await hub.towns.import_file(OPERATOR, path, coalition.id)
    imported = {t.code: t for t in await hub.towns.list(coalition.id)}
    await crowd.invite(coordinator, room_id, bot_id)
    await crowd.join(room_id, [*active, *talkers])
    await crowd.wait_member(coordinator, room_id, bot_id)
    by_town = {imported[e.code].id: m for e, m in zip(chosen, active, strict=False)}
    return CoalitionRoom(hub, crowd, room_id, coalition, coordinator, by_town, list(imported.values()), talkers)


def _write_towns(path: Path, chosen: list[RefEntry], officers: list[str]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("type", "code", "nom", "site", "officiers"))
        for entry, officer in zip(chosen, officers, strict=True):
            writer.writerow(("commune", entry.code, entry.name, f"https://ville-{entry.code.lower()}.fr", officer))


# -- the bot as a process ------------------------------------------------------------------------------------


class BotProcess:
    """``unisson run --role bot`` as a child process on the hub of ``hub_settings`` (SQLite shared with the
    caller), started, killed (``kill -9``) and started again by a test or a benchmark. Its output goes to
    ``folder/bot.log``. Use as ``async with BotProcess(...) as bot`` (stopped with SIGTERM on exit)."""

    def __init__(self, folder: Path, hub_settings: Settings, bot_settings: BotSettings) -> None:
        self.folder = folder
        self.env = _bot_environment(hub_settings, bot_settings)
        self.log = folder / "bot.log"
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self.process is not None:
            await stop(self.process)

    async def start(self) -> None:
        log = await asyncio.to_thread(self.log.open, "ab")
        with log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                *("-m", "bot.cli", "run", "--role", "bot"),
                cwd=self.folder,  # where no stray .env is read
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        self.starts += 1

    async def kill(self) -> None:
        """``kill -9``: the bot gets no chance to finish anything."""
        if self.process is not None:
            self.process.kill()
            await self.process.wait()


def _bot_environment(hub: Settings, bot: BotSettings) -> dict[str, str]:
    """The child's environment: the caller's, without its Unisson settings, plus the hub's and the bot's."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("UNISSON_")}
    return env | {
        "UNISSON_DATA_DIR": str(hub.data_dir),
        "UNISSON_ENCRYPTION_KEYS": hub.encryption_keys.get_secret_value(),
        "UNISSON_DATABASE_URL": hub.resolved_database_url,
        "UNISSON_ADMINS": ",".join(hub.admins),
        "UNISSON_HTTP_PORT": "0",
        "UNISSON_MATRIX_HOMESERVER": bot.homeserver,
        "UNISSON_MATRIX_USER_ID": bot.user_id,
        "UNISSON_MATRIX_ACCESS_TOKEN": bot.access_token.get_secret_value(),
        "UNISSON_MATRIX_STORE_PATH": str(bot.store_path),
        "UNISSON_MATRIX_REMINDERS": ",".join(f"{int(r.total_seconds()) // 60}m" for r in bot.reminders),
    }


# -- helpers ------------------------------------------------------------------------------------------------


async def _all(jobs: Iterable[Coroutine[Any, Any, T]]) -> list[T]:
    """Runs every coroutine of ``jobs`` (they bound themselves), cancelling the rest if one fails."""
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(job) for job in jobs]
    return [task.result() for task in tasks]


def _q(part: str) -> str:
    return quote(part, safe="")


def _transaction() -> str:
    return f"foule-{next(_transactions)}-{uuid.uuid4().hex[:8]}"

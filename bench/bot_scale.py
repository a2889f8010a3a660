"""Benchmark: a coalition of 1,600 towns in one room; 500 officers react ✅ to the card within 30 s.

Through a real Synapse that keeps its default message limits (0.2 messages per second after a burst of 10, per
user), with the bot run as in production (``unisson run --role bot``, the hub on SQLite): once on those limits,
once exempted from them. While the officers react, people with no role send a command a second (``!ping``,
``!etat N``). The officers are a light crowd of Matrix users speaking plain HTTP (``sandbox/crowd.py``); one
observer follows the room. Prints, for each run:

- sign-ons recorded in the hub, and lost (reactions the hub never recorded);
- seconds from the last reaction to the card showing every sign-on (its latest edit); card edits sent, the most
  in any 2 s; the largest card event;
- reply latency p50/p95 of the commands sent during the wave, and how many were never answered.

Targets, printed next to the figures. Bot exempt: 0 lost, card current ≤ 5 s after the last reaction, ≤ 1 edit
per card per 2 s, reply p95 ≤ 1 s during the wave. Default limits: 0 lost, every command answered. It is not a
pass/fail test.

    python -m bench.bot_scale [--towns 1600] [--reactions 500] [--exempt | --default-limits]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import tempfile
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pydantic import SecretStr

from bot.settings import BotSettings
from hub.core import Hub
from hub.crypto import generate_key
from hub.domain.model import SignOnState
from hub.settings import Settings
from hub.store import migrate
from sandbox.crowd import (
    BotProcess,
    CoalitionRoom,
    Crowd,
    CrowdError,
    Observer,
    Seen,
    Sent,
    coalition_room,
    now,
    signed_count,
)
from sandbox.synapse import DEFAULT_MESSAGE_BURST, DEFAULT_MESSAGES_PER_SECOND, RunningSynapse, run_synapse

TARGET_CARD_SECONDS = 5.0
TARGET_EDITS_PER_WINDOW = 1
EDIT_WINDOW_SECONDS = 2.0
TARGET_REPLY_P95 = 1.0
#: Matrix refuses an event over this many bytes.
EVENT_LIMIT = 65_536
SPEAKERS = 5
COMMAND_EVERY_SECONDS = 1.0
#: How long the exempt bot is given, after the last reaction, to record, show and answer everything.
EXEMPT_SETTLE = 60.0
PASSWORD = "mot-de-passe-de-banc"


@dataclass
class Figures:
    limits: str
    towns: int
    reactions: int
    recorded: int = 0
    #: Seconds from the last reaction to the first edit of the card that shows every reaction.
    card_after: float | None = None
    edits: int = 0
    busiest_window: int = 0
    #: The shortest time between two edits of the card, by the server's timestamps (None: fewer than two).
    shortest_gap: float | None = None
    card_bytes: int = 0
    commands: int = 0
    latencies: list[float] = field(default_factory=list)
    #: Seconds from the last reaction to the measurement (everything settled, or the wait ran out).
    waited: float = 0.0
    problem: str | None = None


@dataclass(frozen=True)
class Wave:
    reactions: list[Sent]
    commands: list[Sent]

    @property
    def last_reaction(self) -> float:
        return max(s.at for s in self.reactions)


async def run(folder: Path, towns: int, reactions: int, window: float, exempt: bool, settle: float | None) -> Figures:
    figures = Figures("bot exempt" if exempt else "default limits", towns, reactions, commands=_commands(window))
    async with AsyncExitStack() as stack:
        hs = await stack.enter_async_context(run_synapse(folder / "synapse", message_limits="default"))
        _, admin_token = await hs.register("admin-serveur", PASSWORD, admin=True)
        hub_settings = _hub_settings(folder)
        hub = Hub.from_settings(hub_settings)
        stack.push_async_callback(hub.close)
        await migrate.upgrade(hub.store)
        bot_settings = await _bot_account(hs, folder, admin_token if exempt else None)
        await stack.enter_async_context(BotProcess(folder, hub_settings, bot_settings))
        crowd = await stack.enter_async_context(Crowd(hs, concurrency=32))
        started = now()
        room = await coalition_room(
            hub,
            crowd,
            folder,
            bot_id=bot_settings.user_id,
            towns=towns,
            officers=reactions,
            speakers=SPEAKERS,
            admin_token=admin_token,
        )
        people = reactions + SPEAKERS + 1
        print(f"  ({figures.limits}) the coalition, its room and {people} people ready in {now() - started:.0f} s")
        try:
            number, card = await room.announce(within=60.0)
        except CrowdError as error:
            figures.problem = f"{error}; the bot's last error: {_last_error(folder / 'bot.log')}"
            return figures
        async with Observer(crowd, room.coordinator, room.room_id, senders=[bot_settings.user_id]) as seen:
            wave = await _wave(room, number, card, window)
            wait = settle if settle is not None else _settle(exempt, len(wave.commands))
            await _settle_down(hub, seen, number, card, wave, wait)
            await _measure(figures, hub, crowd, room, seen, number, card, wave)
    return figures


def _hub_settings(folder: Path) -> Settings:
    """The hub on SQLite in ``folder``, shared by the benchmark (which sets the scene and counts) and the bot."""
    url = f"sqlite+aiosqlite:///{folder / 'unisson.db'}"
    return Settings(data_dir=folder, database_url=url, encryption_keys=SecretStr(generate_key()), _env_file=None)


async def _bot_account(hs: RunningSynapse, folder: Path, admin_token: str | None) -> BotSettings:
    user_id, token = await hs.register("unisson", PASSWORD)
    if admin_token is not None:
        await hs.exempt_from_rate_limits(user_id, admin_token)
    return BotSettings(
        homeserver=hs.url,
        user_id=user_id,
        access_token=SecretStr(token),
        store_path=folder / "bot-store",
        reminders=(),
        _env_file=None,
    )


async def _wave(room: CoalitionRoom, number: int, card: str, window: float) -> Wave:
    """Every officer reacts ✅ within ``window`` seconds; meanwhile the speakers send a command a second."""
    crowd, room_id = room.crowd, room.room_id
    reactions = [crowd.reaction(m, room_id, card, "✅") for m in room.officers.values()]
    bodies = ["!ping" if i % 2 else f"!etat {number}" for i in range(_commands(window))]
    commands = [crowd.saying(room.speakers[i % len(room.speakers)], room_id, b) for i, b in enumerate(bodies)]
    reacted, asked = await asyncio.gather(crowd.wave(reactions, within=window), crowd.wave(commands, within=window))
    return Wave(reacted, asked)


def _commands(window: float) -> int:
    return max(1, int(window / COMMAND_EVERY_SECONDS))


def _last_error(log: Path) -> str:
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines() if log.exists() else []
    return next((line.strip() for line in reversed(lines) if "Error" in line), "none logged")


def _settle(exempt: bool, commands: int) -> float:
    """How long to wait after the last reaction: on default limits, every reply at the default rate once the
    burst is spent (card edits coalesced behind them), plus half a minute."""
    if exempt:
        return EXEMPT_SETTLE
    return max(0, commands + 2 - DEFAULT_MESSAGE_BURST) / DEFAULT_MESSAGES_PER_SECOND + 30.0


async def _settle_down(hub: Hub, seen: Observer, number: int, card: str, wave: Wave, wait: float) -> None:
    """Waits until every reaction is recorded and shown and every command answered, or ``wait`` seconds after
    the last reaction."""
    deadline = wave.last_reaction + wait
    asked = {s.event_id for s in wave.commands}
    while now() < deadline:
        shown = signed_count(seen.text_of(card) or "") == len(wave.reactions)
        answered = asked <= seen.replies().keys()
        if shown and answered and await _signed(hub, number) == len(wave.reactions):
            return
        await asyncio.sleep(1.0)


async def _signed(hub: Hub, number: int) -> int:
    return len((await hub.announcements.board(number)).with_state(SignOnState.SIGNED))


async def _measure(
    figures: Figures, hub: Hub, crowd: Crowd, room: CoalitionRoom, seen: Observer, number: int, card: str, wave: Wave
) -> None:
    figures.recorded = await _signed(hub, number)
    figures.waited = now() - wave.last_reaction
    edits = seen.edits_of(card)
    showing = next((e for e in edits if signed_count(e.text) == len(wave.reactions)), None)
    figures.card_after = None if showing is None else showing.at - wave.last_reaction
    figures.edits = len(edits)
    figures.busiest_window = _busiest(edits, EDIT_WINDOW_SECONDS)
    stamps = sorted(_stamp(e) for e in edits)
    figures.shortest_gap = min((b - a for a, b in itertools.pairwise(stamps)), default=None)
    original = await crowd.call(room.coordinator, "GET", f"/rooms/{quote(room.room_id)}/event/{quote(card)}")
    figures.card_bytes = max(_size(e) for e in [original, *(e.event for e in edits)])
    replies = seen.replies()
    figures.latencies = [replies[s.event_id].at - s.at for s in wave.commands if s.event_id in replies]


def _busiest(edits: list[Seen], seconds: float) -> int:
    """The most edits the server accepted within any ``seconds`` (by their server timestamps)."""
    stamps = sorted(_stamp(e) for e in edits)
    most, first = 0, 0
    for last, stamp in enumerate(stamps):
        while stamp - stamps[first] >= seconds:
            first += 1
        most = max(most, last - first + 1)
    return most


def _stamp(seen: Seen) -> float:
    """When the server accepted the event, in seconds."""
    return int(seen.event.get("origin_server_ts", 0)) / 1000


def _size(event: dict[str, Any]) -> int:
    return len(json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode())


# -- the report -------------------------------------------------------------------------------------------------


def report(figures: Figures, window: float) -> None:
    exempt = figures.limits == "bot exempt"
    print(
        f"{figures.towns} towns, {figures.reactions} reactions within {window:.0f} s, "
        f"{figures.commands} commands during the wave ({figures.limits}):"
    )
    if figures.problem is not None:
        print(f"  no measurement: {figures.problem}")
        return
    lost = figures.reactions - figures.recorded
    within = f"{figures.waited:.0f} s after the last reaction"
    _line("sign-ons", f"{figures.recorded} of {figures.reactions} recorded {within}: {lost} lost", "0 lost", lost == 0)
    shown = f"not {within}" if figures.card_after is None else f"{figures.card_after:.1f} s after the last reaction"
    card_met = figures.card_after is not None and figures.card_after <= TARGET_CARD_SECONDS
    _line("card shows all", shown, "≤ 5 s" if exempt else None, card_met)
    edits = f"{figures.edits} sent, at most {figures.busiest_window} in {EDIT_WINDOW_SECONDS:.0f} s"
    if figures.shortest_gap is not None:
        edits += f" (shortest gap {figures.shortest_gap:.2f} s)"
    _line("card edits", edits, "≤ 1 per 2 s" if exempt else None, figures.busiest_window <= TARGET_EDITS_PER_WINDOW)
    big = f"{figures.card_bytes:,} bytes (as clients receive it)"
    _line("largest card event", big, f"< {EVENT_LIMIT:,}", figures.card_bytes < EVENT_LIMIT)
    _replies(figures, exempt)


def _replies(figures: Figures, exempt: bool) -> None:
    unanswered = figures.commands - len(figures.latencies)
    answered = f"{len(figures.latencies)} of {figures.commands} answered"
    if len(figures.latencies) >= 2:
        cuts = statistics.quantiles(figures.latencies, n=20, method="inclusive")
        p95 = cuts[18]
        answered += f", p50 {statistics.median(figures.latencies):.2f} s, p95 {p95:.2f} s"
    else:
        p95 = float("inf")
    if exempt:
        _line("replies", answered, "p95 ≤ 1 s, all answered", unanswered == 0 and p95 <= TARGET_REPLY_P95)
    else:
        _line("replies", answered, "every command answered", unanswered == 0)


def _line(label: str, figure: str, target: str | None, met: bool) -> None:
    verdict = "" if target is None else f"   target {target}: {'met' if met else 'MISSED'}"
    print(f"  {label:20} {figure}{verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--towns", type=int, default=1600, help="towns in the coalition")
    parser.add_argument("--reactions", type=int, default=500, help="officers who react ✅ to the card")
    parser.add_argument("--window", type=float, default=30.0, help="seconds over which they react")
    parser.add_argument("--settle", type=float, help="seconds to wait after the last reaction (default: derived)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--exempt", action="store_true", help="only the run with the bot exempt from rate limits")
    which.add_argument("--default-limits", action="store_true", help="only the run on Synapse's default limits")
    args = parser.parse_args()
    if args.reactions > args.towns:
        parser.error("--reactions cannot exceed --towns (one officer reacts per town)")
    modes = [True] if args.exempt else [False] if args.default_limits else [False, True]
    for exempt in modes:
        with tempfile.TemporaryDirectory() as folder:
            figures = asyncio.run(run(Path(folder), args.towns, args.reactions, args.window, exempt, args.settle))
        report(figures, args.window)


if __name__ == "__main__":
    main()

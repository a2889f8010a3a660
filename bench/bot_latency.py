"""Benchmark: command → reply latency of the Matrix bot through a real Synapse, the hub on SQLite.

A user sends commands one at a time in a coalition room and waits for each answer; the time from sending to
receiving the answer (both through Synapse) is measured. Prints p50, p95 and max per command and overall;
target p95 under 300 ms. It is not a pass/fail test.

    python -m bench.bot_latency [--count 200] [--encrypted]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from nio import AsyncClient, AsyncClientConfig, LoginResponse, RoomCreateResponse, RoomMessageNotice, RoomSendResponse
from pydantic import SecretStr

from bot.client import SKIP_HISTORY_FILTER, Bot
from bot.settings import BotSettings
from hub.core import Hub
from hub.crypto import SecretBox, generate_key
from hub.services.onboarding import OnboardingService
from hub.settings import Settings
from hub.store import Store, migrate
from sandbox.synapse import RunningSynapse, run_synapse

PASSWORD = "mot-de-passe-de-banc"
TARGET_P95_MS = 300.0
#: Real towns for ``!villes`` to list (INSEE codes).
TOWNS = ("93055", "94043", "78575", "35238", "69123")
ENCRYPTION = {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}


class User:
    """A Matrix user at a client, who notes when each answer of the bot arrives."""

    def __init__(self, hs: RunningSynapse, user_id: str, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        config = AsyncClientConfig(encryption_enabled=True, store_sync_tokens=False)
        self.client = AsyncClient(hs.url, user_id, store_path=str(folder), config=config)
        self._waiting: dict[str, asyncio.Future[float]] = {}
        self._early: dict[str, float] = {}

    async def _on_notice(self, room: Any, event: RoomMessageNotice) -> None:
        arrived = time.perf_counter()
        target = event.source.get("content", {}).get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id")
        if target is None:
            return
        future = self._waiting.get(str(target))
        if future is None:
            self._early[str(target)] = arrived  # the answer came before room_send returned
        elif not future.done():
            future.set_result(arrived)

    async def round_trip(self, room_id: str, body: str) -> float:
        """Seconds from sending ``body`` to receiving the bot's answer to it."""
        content = {"msgtype": "m.text", "body": body}
        started = time.perf_counter()
        response = await self.client.room_send(room_id, "m.room.message", content, ignore_unverified_devices=True)
        if not isinstance(response, RoomSendResponse):
            raise RuntimeError(f"could not send {body!r}: {response}")
        event_id = str(response.event_id)
        if event_id in self._early:
            return self._early.pop(event_id) - started
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiting[event_id] = future
        arrived = await asyncio.wait_for(future, 30)
        return arrived - started

    @asynccontextmanager
    async def syncing(self) -> AsyncIterator[User]:
        task: asyncio.Task[None] | None = None
        try:
            response = await self.client.login(PASSWORD, device_name="bench")
            if not isinstance(response, LoginResponse):
                raise RuntimeError(f"login failed: {response}")
            self.client.add_event_callback(self._on_notice, RoomMessageNotice)
            sync = self.client.sync_forever(timeout=30_000, first_sync_filter=SKIP_HISTORY_FILTER)
            task = asyncio.create_task(sync)
            yield self
        finally:
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            await self.client.close()


async def _room(user: User, bot_id: str, encrypted: bool) -> str:
    response = await user.client.room_create(invite=[bot_id], initial_state=[ENCRYPTION] if encrypted else [])
    if not isinstance(response, RoomCreateResponse):
        raise RuntimeError(f"could not create the room: {response}")
    room_id = str(response.room_id)
    for _ in range(600):  # 30 s
        room = user.client.rooms.get(room_id)
        member = room.users.get(bot_id) if room else None
        if member is not None and not member.invited:
            return room_id
        await asyncio.sleep(0.05)
    raise RuntimeError("the bot did not join the room")


def _report(label: str, seconds: list[float]) -> float:
    ms = sorted(s * 1000 for s in seconds)
    cuts = statistics.quantiles(ms, n=100, method="inclusive")
    p50, p95 = cuts[49], cuts[94]
    print(f"{label:10} n={len(ms):4}  p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  max {ms[-1]:7.1f} ms")
    return p95


async def run(folder: Path, count: int, encrypted: bool) -> None:
    async with AsyncExitStack() as stack:
        hs = await stack.enter_async_context(run_synapse(folder / "synapse"))
        admin_id, _ = await hs.register("admin", PASSWORD, admin=True)
        bot_id, token = await hs.register("unisson", PASSWORD)
        url = f"sqlite+aiosqlite:///{folder / 'bench.db'}"
        store = Store.from_url(url)
        await migrate.upgrade(store)
        settings = Settings(data_dir=folder, database_url=url, admins=[admin_id], _env_file=None)
        hub = Hub(store, SecretBox([generate_key()]), settings)
        stack.push_async_callback(hub.close)
        bot_settings = BotSettings(
            homeserver=hs.url,
            user_id=bot_id,
            access_token=SecretStr(token),
            store_path=folder / "bot",
            _env_file=None,
        )
        await stack.enter_async_context(Bot(hub, bot_settings))
        user = await stack.enter_async_context(User(hs, admin_id, folder / "user").syncing())
        room_id = await _room(user, bot_id, encrypted)
        coalition = await hub.coalitions.create(admin_id, "Coalition du banc", room_id)
        for code in TOWNS:
            await OnboardingService(hub).add_town(admin_id, coalition.id, code)

        await user.round_trip(room_id, "!ping")  # warm-up: first queries, key sharing in an encrypted room
        commands = {"!ping": count, "!villes": max(count // 4, 20), "!aide": max(count // 4, 20)}
        results: dict[str, list[float]] = {}
        for body, times in commands.items():
            results[body] = [await user.round_trip(room_id, body) for _ in range(times)]
        kind = "encrypted" if encrypted else "plain"
        print(f"Bot command → reply latency through Synapse ({kind} room, hub on SQLite):")
        for body, seconds in results.items():
            _report(body, seconds)
        p95 = _report("all", [s for seconds in results.values() for s in seconds])
        verdict = "met" if p95 < TARGET_P95_MS else "MISSED"
        print(f"target p95 < {TARGET_P95_MS:.0f} ms: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="how many !ping (a quarter as many of the others)")
    parser.add_argument("--encrypted", action="store_true", help="an end-to-end encrypted room")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(run(Path(folder), args.count, args.encrypted))


if __name__ == "__main__":
    main()

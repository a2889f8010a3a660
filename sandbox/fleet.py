"""A coalition of real communes ready to publish: for tests, benchmarks and the demo.

Each town gets an officer, a Bluesky account on a Bluesky server (the double or a real PDS) and a Mastodon
account on the Mastodon double, signs on to one announcement, which is locked for an instant chosen to the
microsecond (the harness writes it directly; people type it, see ``AnnouncementService.schedule``).
"""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from hub.core import OPERATOR, Hub
from hub.dispatch.gateway import StoreGateway
from hub.domain.model import Announcement, Platform, Town
from hub.publishers.bluesky import BlueskyPublisher
from hub.publishers.mastodon import MastodonPublisher
from sandbox.bluesky import BlueskyDouble
from sandbox.mastodon import MastodonDouble

COORDINATOR = "@coordination:unisson.test"
PASSWORD = "abcd-efgh-ijkl-mnop"
TEXT = "{ville} quitte X et vous donne rendez-vous ici. #AuRevoirX"


# Codes are lower-cased in names: Matrix ids and handles are lower case (Corsica's codes are 2A…, 2B…).


def officer_of(code: str) -> str:
    return f"@referent.{code.lower()}:unisson.test"


def handle_of(code: str) -> str:
    return f"ville-{code.lower()}.test"


def username_of(code: str) -> str:
    return f"ville{code.lower()}"


def token_of(code: str) -> str:
    return f"jeton-{code.lower()}"


def open_accounts(
    codes: Sequence[str], bluesky: BlueskyDouble | None = None, mastodon: MastodonDouble | None = None
) -> dict[str, str]:
    """Creates each town's accounts on the doubles (``handle_of``/``PASSWORD``, ``username_of``/``token_of``);
    returns the Bluesky DIDs by code. Call it where the doubles run (possibly another process)."""
    dids: dict[str, str] = {}
    for code in codes:
        if bluesky is not None:
            dids[code] = bluesky.add_account(handle_of(code), PASSWORD)
        if mastodon is not None:
            mastodon.add_account(username_of(code))
            mastodon.issue_token(username_of(code), value=token_of(code))
    return dids


@dataclass(frozen=True)
class Fleet:
    hub: Hub
    coalition_id: int
    announcement: Announcement
    towns: list[Town]
    bluesky: BlueskyDouble | None
    mastodon: MastodonDouble | None
    #: DID of each town's Bluesky account, by town id.
    dids: dict[int, str]
    #: Each town's Mastodon access token, by town id.
    tokens: dict[int, str]

    def town(self, code: str) -> Town:
        return next(t for t in self.towns if t.code == code)

    def bluesky_posts(self) -> dict[int, int]:
        """How many posts each town has on the Bluesky server (deleted ones excluded)."""
        assert self.bluesky is not None
        return {t.id: len(self.bluesky.posts(self.dids[t.id])) for t in self.towns}

    def mastodon_posts(self) -> dict[int, int]:
        assert self.mastodon is not None
        return {t.id: len(self.mastodon.statuses(username_of(t.code or ""))) for t in self.towns}


def use_servers(hub: Hub, *, plc_url: str, timeout: float = 10.0, app_url: str = "https://bsky.app") -> None:
    """Gives ``hub`` publishers that resolve Bluesky identities on ``plc_url`` (a double or a local PLC) and
    link each post to ``app_url`` (the double's own pages: ``app_url=plc_url``)."""
    gateway = StoreGateway(hub)
    hub.publishers = {
        Platform.BLUESKY: BlueskyPublisher(gateway, plc_url=plc_url, app_url=app_url, timeout=timeout),
        Platform.MASTODON: MastodonPublisher(gateway, timeout=timeout),
    }


async def build_fleet(
    hub: Hub,
    workdir: Path,
    codes: Sequence[tuple[str, str]],
    instant: datetime | timedelta,
    *,
    bluesky: tuple[BlueskyDouble | None, str] | None = None,
    mastodon: tuple[MastodonDouble | None, str] | None = None,
    text: str = TEXT,
    admin: str = OPERATOR,
    declined: Mapping[str, str] | None = None,
    followup: str | None = None,
    pin: bool = False,
) -> Fleet:
    """``codes`` are ``(INSEE code, name)`` pairs; ``bluesky``/``mastodon`` are a double and its base URL;
    ``instant`` is the publication instant, or its delay from the moment the announcement is locked. A double
    given as None runs elsewhere and already holds the accounts (see :func:`open_accounts`). The towns in
    ``declined`` (code → reason) decline instead of signing; the others sign. ``followup``: a second text each
    town posts in thread under its post; ``pin``: each post is pinned on its town's profile."""
    coalition = await hub.coalitions.create(admin, "Coalition des communes", f"!flotte-{len(codes)}:unisson.test")
    await hub.coalitions.appoint_coordinator(admin, coalition.id, COORDINATOR)
    towns = await _import(hub, workdir, coalition.id, codes)
    codes_here = [t.code or "" for t in towns]
    made = open_accounts(codes_here, bluesky[0] if bluesky else None, mastodon[0] if mastodon else None)
    dids = {t.id: made[t.code or ""] for t in towns if (t.code or "") in made}
    tokens = {t.id: token_of(t.code or "") for t in towns}
    for town in towns:
        code = town.code or ""
        if bluesky is not None:
            await hub.accounts.link(officer_of(code), town.id, Platform.BLUESKY, handle_of(code), PASSWORD, bluesky[1])
        if mastodon is not None:
            identifier = f"@{username_of(code)}@mastodon.test"
            await hub.accounts.link(
                officer_of(code), town.id, Platform.MASTODON, identifier, token_of(code), mastodon[1]
            )
    announcement = await hub.announcements.propose(COORDINATOR, coalition.id, "Départ de X", text)
    if followup is not None:
        await hub.threads.set_followup(COORDINATOR, announcement.id, followup)
    if pin:
        await hub.threads.set_pin(COORDINATOR, announcement.id, True)
    await _sign_all(hub, announcement.id, towns, declined or {})
    if isinstance(instant, timedelta):
        instant = hub.clock() + instant
    async with hub.store.unit() as uow:
        await uow.announcements.update(announcement.id, publish_at=instant)
    locked = await hub.announcements.lock(COORDINATOR, announcement.id)
    return Fleet(
        hub,
        coalition.id,
        locked.announcement,
        towns,
        bluesky[0] if bluesky else None,
        mastodon[0] if mastodon else None,
        dids,
        tokens,
    )


async def _import(hub: Hub, workdir: Path, coalition_id: int, codes: Sequence[tuple[str, str]]) -> list[Town]:
    path = workdir / f"flotte-{coalition_id}.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("type", "code", "nom", "site", "officiers"))
        for code, name in codes:
            writer.writerow(("commune", code, name, f"https://ville-{code}.fr", officer_of(code)))
    await hub.towns.import_file(OPERATOR, path, coalition_id)
    return [t for t in await hub.towns.list(coalition_id) if t.code]


async def _sign_all(
    hub: Hub, announcement_id: int, towns: list[Town], declined: Mapping[str, str], concurrency: int = 8
) -> None:
    slots = asyncio.Semaphore(concurrency)

    async def sign(town: Town) -> None:
        code = town.code or ""
        async with slots:
            if code in declined:
                await hub.announcements.decline(officer_of(code), announcement_id, town.id, declined[code])
            else:
                await hub.announcements.sign(officer_of(code), announcement_id, town.id)

    await asyncio.gather(*(sign(t) for t in towns))

"""Small builders for the service tests: a coalition with its coordinator and real towns, accounts, images.

Towns come in through the same path as in production, a CSV imported with ``hub.towns.import_file``, so every
test starts from towns checked against the official INSEE list, each with one officer and a website.
"""

from __future__ import annotations

import io
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from hub.core import OPERATOR, Hub
from hub.domain.model import Account, Announcement, Coalition, Delivery, Platform, Town
from tests.conftest import ADMIN

# Real INSEE codes; the names are those of the official list.
PANTIN = "93055"  # Pantin
KREMLIN = "94043"  # Le Kremlin-Bicêtre
SAINT_REMY = "78575"  # Saint-Rémy-lès-Chevreuse
RENNES = "35238"  # Rennes
LYON = "69123"  # Lyon

COORDINATOR = "@coordination:unisson.test"
TEXT = "{ville} quitte X ! Suivez-nous sur {site} #AuRevoirX"

_files = itertools.count(1)


def officer_of(code: str) -> str:
    """The Matrix id of the one officer the builder gives the town with INSEE code ``code``."""
    return f"@referent.{code}:unisson.test"


def site_of(code: str) -> str:
    return f"https://ville-{code}.fr"


@dataclass(frozen=True)
class Setup:
    """A coalition as a test sees it: its coordinator and its member towns by INSEE code."""

    coalition: Coalition
    coordinator: str
    towns: dict[str, Town]

    def town(self, code: str) -> Town:
        return self.towns[code]

    def officer(self, code: str) -> str:
        return officer_of(code)


async def build_coalition(
    hub: Hub,
    tmp_path: Path,
    codes: tuple[str, ...] = (PANTIN, KREMLIN),
    *,
    name: str = "Coalition Est",
    coordinator: str = COORDINATOR,
) -> Setup:
    """Creates a coalition (as the admin), appoints its coordinator and imports its towns from a CSV."""
    slug = name.lower().replace(" ", "-")
    coalition = await hub.coalitions.create(ADMIN, name, f"!{slug}:unisson.test")
    await hub.coalitions.appoint_coordinator(ADMIN, coalition.id, coordinator)
    csv = tmp_path / f"villes-{next(_files)}.csv"
    lines = ["type,code,site,officiers"]
    lines += [f"commune,{code},{site_of(code)},{officer_of(code)}" for code in codes]
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    await hub.towns.import_file(OPERATOR, csv, coalition.id)
    towns = {t.code: t for t in await hub.towns.list(coalition.id) if t.code}
    return Setup(coalition, coordinator, towns)


async def propose(hub: Hub, setup: Setup, text: str = TEXT, **options: Any) -> Announcement:
    """An announcement proposed by the coalition's coordinator (open for sign-on unless ``draft=True``)."""
    return await hub.announcements.propose(setup.coordinator, setup.coalition.id, "Départ de X", text, **options)


async def link_bluesky(hub: Hub, setup: Setup, code: str, secret: str = "abcd-efgh-ijkl-mnop") -> Account:
    return await hub.accounts.link(
        setup.officer(code), setup.town(code).id, Platform.BLUESKY, f"ville-{code}.bsky.social", secret
    )


async def link_mastodon(
    hub: Hub, setup: Setup, code: str, limits: dict[str, Any] | None = None, secret: str = "jeton-mastodon"
) -> Account:
    """Links a Mastodon account; ``limits`` are stored as if read from the server's ``/api/v2/instance``."""
    account = await hub.accounts.link(
        setup.officer(code), setup.town(code).id, Platform.MASTODON, f"@ville{code}@mastodon.example", secret
    )
    if limits is not None:
        async with hub.store.unit() as uow:
            await uow.accounts.record_health(account.id, error=None, limits=limits)
    return account


async def deliveries(hub: Hub, announcement_id: int) -> list[Delivery]:
    async with hub.store.unit() as uow:
        return await uow.deliveries.list(announcement_id)


def png(color: tuple[int, int, int], size: tuple[int, int] = (4, 3)) -> bytes:
    """A tiny PNG of one colour (distinct colours give distinct images)."""
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()

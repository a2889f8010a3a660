"""The coalition's own Bluesky account on a real PDS: its starter pack (the reference list, its items and the
pack, read back with listRecords and getRecord, kept current when a town joins or leaves, safe to write twice)
and its reposts (made once, undone)."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from hub.core import Hub
from hub.crypto import SecretBox, generate_key
from hub.domain.model import Platform
from hub.errors import InvalidInput
from hub.publishers.bluesky import BlueskyPublisher, new_tid
from hub.publishers.reposting import REPOST, BlueskyReposts
from hub.reference import communes
from hub.services.onboarding import OnboardingService
from hub.services.starter_packs import ITEM, LIST, PACK, REFERENCE
from hub.settings import Settings
from hub.store import Store, migrate
from sandbox.pds import RunningPds
from tests.conftest import ADMIN, Clock
from tests.integration.helpers import KREMLIN, PANTIN, RENNES, SAINT_REMY, Setup, build_coalition, officer_of

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(loop_scope="session")
async def hub(tmp_path: Path, clock: Clock, pds: RunningPds) -> AsyncIterator[Hub]:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'unisson.db'}"
    store = Store.from_url(database_url, clock)
    await migrate.upgrade(store)
    settings = Settings(data_dir=tmp_path, database_url=database_url, admins=[ADMIN], _env_file=None)  # type: ignore[call-arg]
    hub = Hub(store, SecretBox([generate_key()]), settings, clock=clock)
    gateway = hub.coalition_accounts.gateway
    hub.coalition_accounts.publishers = {Platform.BLUESKY: BlueskyPublisher(gateway, plc_url=pds.plc_url, timeout=5.0)}
    yield hub
    await hub.close()


async def _account(pds: RunningPds, prefix: str) -> tuple[str, str, str]:
    """A new PDS account: its handle, DID and an app password."""
    handle = f"{prefix}-{secrets.token_hex(3)}.test"
    created = await pds.create_account(handle, f"com@{handle}", "mot-de-passe-principal")
    return handle, created.did, await pds.create_app_password(created.access_jwt, "unisson")


async def _link_town(hub: Hub, pds: RunningPds, town_id: int, code: str) -> str:
    handle, did, password = await _account(pds, "ville")
    await hub.accounts.link(officer_of(code), town_id, Platform.BLUESKY, handle, password, server=pds.url)
    return did


async def _records(pds: RunningPds, did: str, collection: str, *, every: bool = False) -> list[dict[str, Any]]:
    """The collection's records (the first 100, or ``every`` one, page after page)."""
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"repo": did, "collection": collection, "limit": "100"} | ({"cursor": cursor} if cursor else {})
        async with pds.http.get(pds.xrpc_url("com.atproto.repo.listRecords"), params=params) as answer:
            assert answer.status == 200
            page = await answer.json()
        found += page["records"]
        cursor = page.get("cursor")
        if not every or not cursor or not page["records"]:
            return found


async def _record(pds: RunningPds, uri: str) -> dict[str, Any]:
    did, collection, rkey = uri.removeprefix("at://").split("/")
    params = {"repo": did, "collection": collection, "rkey": rkey}
    async with pds.http.get(pds.xrpc_url("com.atproto.repo.getRecord"), params=params) as answer:
        assert answer.status == 200
        value: dict[str, Any] = (await answer.json())["value"]
        return value


@pytest_asyncio.fixture(loop_scope="session")
async def coalition(hub: Hub, pds: RunningPds, tmp_path: Path) -> tuple[Setup, str, dict[str, str]]:
    """Three towns with Bluesky accounts, and the coalition's own account linked: (setup, its DID, town DIDs)."""
    setup = await build_coalition(hub, tmp_path, (PANTIN, KREMLIN, SAINT_REMY))
    towns = {code: await _link_town(hub, pds, setup.town(code).id, code) for code in (PANTIN, KREMLIN, SAINT_REMY)}
    handle, did, password = await _account(pds, "coalition")
    health = await hub.coalition_accounts.connect(
        setup.coordinator, setup.coalition.id, Platform.BLUESKY, handle, password, pds.url
    )
    assert health.problem is None
    return setup, did, towns


async def test_the_pack_lists_every_linked_town_and_is_written_once(
    hub: Hub, pds: RunningPds, coalition: tuple[Setup, str, dict[str, str]]
) -> None:
    setup, did, towns = coalition
    [link] = await hub.starter_packs.create(setup.coordinator, setup.coalition.id)
    [listed] = await _records(pds, did, LIST)
    assert listed["value"]["purpose"] == REFERENCE and listed["value"]["name"] == setup.coalition.name
    items = await _records(pds, did, ITEM)
    assert sorted(i["value"]["subject"] for i in items) == sorted(towns.values())
    assert {i["value"]["list"] for i in items} == {listed["uri"]}
    [pack] = await _records(pds, did, PACK)
    assert pack["value"]["list"] == listed["uri"]
    assert (await _record(pds, pack["uri"]))["name"] == setup.coalition.name
    assert link.url.endswith("/" + pack["uri"].rsplit("/", 1)[1]) and "/starter-pack/" in link.url
    assert await hub.starter_packs.links(setup.coalition.id) == [link]

    # Again (a retry, or a second !pack): the same records, no second item for anyone.
    assert await hub.starter_packs.sync(setup.coalition.id) == [link]
    assert len(await _records(pds, did, ITEM)) == 3
    assert len(await _records(pds, did, LIST)) == 1 and len(await _records(pds, did, PACK)) == 1
    assert await hub.starter_packs.refresh_changed() == 0  # nothing changed: no network write


async def test_a_town_that_joins_or_leaves_changes_the_list(
    hub: Hub, pds: RunningPds, coalition: tuple[Setup, str, dict[str, str]]
) -> None:
    setup, did, towns = coalition
    await hub.starter_packs.create(setup.coordinator, setup.coalition.id)

    added = await OnboardingService(hub).add_town(setup.coordinator, setup.coalition.id, RENNES)
    await hub.towns.appoint_officer(ADMIN, added.town.id, officer_of(RENNES))
    rennes = await _link_town(hub, pds, added.town.id, RENNES)
    assert await hub.starter_packs.refresh_changed() == 1
    subjects = sorted(i["value"]["subject"] for i in await _records(pds, did, ITEM))
    assert subjects == sorted([*towns.values(), rennes])

    await hub.coalitions.remove_town(setup.coordinator, setup.coalition.id, setup.town(PANTIN).id)
    assert await hub.starter_packs.refresh_changed() == 1
    subjects = sorted(i["value"]["subject"] for i in await _records(pds, did, ITEM))
    assert subjects == sorted([towns[KREMLIN], towns[SAINT_REMY], rennes])


async def test_without_a_coalition_account_the_coordinator_is_told_what_to_do(hub: Hub, tmp_path: Path) -> None:
    setup = await build_coalition(hub, tmp_path, (PANTIN,), name="Sans compte")
    with pytest.raises(InvalidInput) as raised:
        await hub.starter_packs.create(setup.coordinator, setup.coalition.id)
    assert "compte-coalition" in raised.value.message("fr")


async def test_a_repost_on_the_real_pds_is_made_once_and_undone(
    hub: Hub, pds: RunningPds, coalition: tuple[Setup, str, dict[str, str]]
) -> None:
    setup, did, _ = coalition
    handle = f"auteur-{secrets.token_hex(3)}.test"
    created = await pds.create_account(handle, f"com@{handle}", "mot-de-passe-principal")
    post = {"$type": "app.bsky.feed.post", "text": "Pantin quitte X", "createdAt": "2026-12-03T10:00:00.000Z"}
    body = {"repo": created.did, "collection": "app.bsky.feed.post", "record": post}
    written = await pds._post("com.atproto.repo.createRecord", body, token=created.access_jwt)
    [account] = await hub.coalition_accounts.of_coalition(setup.coalition.id)
    publisher = hub.coalition_accounts.publisher(Platform.BLUESKY)
    assert isinstance(publisher, BlueskyPublisher)
    reposts = BlueskyReposts(publisher)

    rkey = new_tid()
    first = await reposts.repost(account.as_account(), rkey, written["uri"])
    again = await reposts.repost(account.as_account(), rkey, written["uri"])  # a retry after a lost answer
    assert first == again
    [record] = await _records(pds, did, REPOST)
    assert record["value"]["subject"] == {"uri": written["uri"], "cid": written["cid"]}
    assert (await _record(pds, record["uri"]))["subject"]["cid"] == written["cid"]

    await reposts.undo(account.as_account(), rkey)
    assert await _records(pds, did, REPOST) == []


#: Fifty real communes of three régions: 14 of Seine-Saint-Denis and 13 of Val-de-Marne (Île-de-France), 15 of
#: Ille-et-Vilaine (Bretagne) and 8 of Hérault (Occitanie).
FIFTY = [
    e.code
    for departement, count in (("93", 14), ("94", 13), ("35", 15), ("34", 8))
    for e in [c for c in communes() if c.departement == departement and c.code not in (PANTIN, KREMLIN, RENNES)][:count]
]
MONTPELLIER = "34172"


async def test_fifty_towns_on_a_real_pds_are_all_in_the_packs_split_by_region_and_kept_current(
    hub: Hub, pds: RunningPds, tmp_path: Path
) -> None:
    setup = await build_coalition(hub, tmp_path, tuple(FIFTY), name="Cinquante villes")
    started = time.monotonic()
    towns = {code: await _link_town(hub, pds, setup.town(code).id, code) for code in FIFTY}
    print(f"\n50 PDS accounts created and linked in {time.monotonic() - started:.1f} s")
    handle, did, password = await _account(pds, "cinquante")
    health = await hub.coalition_accounts.connect(
        setup.coordinator, setup.coalition.id, Platform.BLUESKY, handle, password, pds.url
    )
    assert health.problem is None
    hub.starter_packs.pack_size = 20  # the split the app's 150 asks of 1,600 towns, seen here on 50

    links = await hub.starter_packs.create(setup.coordinator, setup.coalition.id)
    labels = ["Bretagne", "Île-de-France (1/2)", "Île-de-France (2/2)", "Occitanie"]
    assert [link.label for link in links] == labels
    wanted = {
        "Bretagne": [c for c in FIFTY if c.startswith("35")],
        "Île-de-France (1/2)": [c for c in FIFTY if c.startswith("93")],
        "Île-de-France (2/2)": [c for c in FIFTY if c.startswith("94")],
        "Occitanie": [c for c in FIFTY if c.startswith("34")],
    }
    assert await _packs(pds, did) == {label: sorted(towns[c] for c in codes) for label, codes in wanted.items()}
    assert len(await _records(pds, did, ITEM)) == 50  # every linked town exactly once

    # A town of Bretagne leaves, Montpellier joins and links its account: the packs follow.
    leaving = wanted["Bretagne"][0]
    await hub.coalitions.remove_town(setup.coordinator, setup.coalition.id, setup.town(leaving).id)
    added = await OnboardingService(hub).add_town(setup.coordinator, setup.coalition.id, MONTPELLIER)
    await hub.towns.appoint_officer(ADMIN, added.town.id, officer_of(MONTPELLIER))
    montpellier = await _link_town(hub, pds, added.town.id, MONTPELLIER)
    assert await hub.starter_packs.refresh_changed() == 1
    packs = await _packs(pds, did)
    assert packs["Bretagne"] == sorted(towns[c] for c in wanted["Bretagne"][1:])
    assert packs["Occitanie"] == sorted([*(towns[c] for c in wanted["Occitanie"]), montpellier])
    assert len(await _records(pds, did, ITEM)) == 50
    assert len(await _records(pds, did, LIST)) == 4 and len(await _records(pds, did, PACK)) == 4


async def _packs(pds: RunningPds, did: str) -> dict[str, list[str]]:
    """Each starter pack on the account, by the label its name ends with: the DIDs its list holds (every
    pack read back with getRecord, its list too, and the items with listRecords)."""
    items = await _records(pds, did, ITEM, every=True)
    found = {}
    for pack in await _records(pds, did, PACK):
        value = await _record(pds, pack["uri"])
        listed = await _record(pds, value["list"])
        assert listed["purpose"] == REFERENCE and listed["name"].endswith(value["name"].rsplit(" · ", 1)[1])
        label = value["name"].rsplit(" · ", 1)[1]
        found[label] = sorted(i["value"]["subject"] for i in items if i["value"]["list"] == value["list"])
    return found

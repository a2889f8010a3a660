"""The Bluesky publisher against a real PDS, with a fault-injecting proxy where the network must misbehave."""

from __future__ import annotations

import asyncio
import io
import json
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import sqlalchemy as sa
from aiohttp import web
from PIL import Image

from hub.core import Hub
from hub.crypto import SecretBox, generate_key
from hub.dispatch.gateway import StoreGateway
from hub.domain.model import Account, Platform
from hub.publishers.base import PermanentPublishError, PostImage, PostJob, Published, TransientPublishError
from hub.publishers.bluesky import LIMITS, BlueskyPublisher
from hub.settings import Settings
from hub.store import Store, migrate
from hub.store.models import DeliveryRow
from hub.store.repositories import NewDelivery
from sandbox.faultproxy import FOREVER, FaultProxy, Forced
from sandbox.pds import RunningPds
from tests.conftest import ADMIN, Clock
from tests.integration.helpers import PANTIN, Setup, build_coalition, propose

pytestmark = pytest.mark.asyncio(loop_scope="session")

CREATE_SESSION = "com.atproto.server.createSession"
REFRESH_SESSION = "com.atproto.server.refreshSession"
CREATE_RECORD = "com.atproto.repo.createRecord"
GET_RECORD = "com.atproto.repo.getRecord"
UPLOAD_BLOB = "com.atproto.repo.uploadBlob"
DEAD_LINK = "http://127.0.0.1:9/agenda"


@pytest_asyncio.fixture(loop_scope="session")
async def hub(tmp_path: Path, clock: Clock) -> AsyncIterator[Hub]:
    """The hub on SQLite only: what the publisher needs from the store does not depend on the database."""
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'unisson.db'}"
    store = Store.from_url(database_url, clock)
    await migrate.upgrade(store)
    settings = Settings(data_dir=tmp_path, database_url=database_url, admins=[ADMIN], _env_file=None)  # type: ignore[call-arg]
    hub = Hub(store, SecretBox([generate_key()]), settings, clock=clock)
    yield hub
    await hub.close()


@dataclass
class Town:
    """A town with a real PDS account linked in the hub, and one announcement to deliver."""

    hub: Hub
    pds: RunningPds
    account: Account
    did: str
    app_password: str
    announcement_id: int

    async def delivery(self) -> int:
        """A new delivery row for the account; its id is what the publisher stores the rkey against."""
        key = secrets.token_hex(8)
        new = NewDelivery(self.account.town_id, self.account.id, Platform.BLUESKY, 1, "texte", key, datetime.now(UTC))
        async with self.hub.store.unit() as uow:
            await uow.deliveries.create_many(self.announcement_id, [new])
            return next(d.id for d in await uow.deliveries.list(self.announcement_id) if d.idempotency_key == key)

    async def stored_key(self, delivery_id: int) -> str | None:
        async with self.hub.store.unit() as uow:
            return await uow.deliveries.remote_key(delivery_id)

    async def job(self, text: str = "Bonjour", **options: Any) -> PostJob:
        delivery_id = options.pop("delivery_id", None) or await self.delivery()
        return PostJob(delivery_id, self.account, text, "fr", f"idem-{delivery_id}", **options)

    async def posts(self) -> list[dict[str, Any]]:
        """Every post in the account's repository, read straight from the PDS."""
        params = {"repo": self.did, "collection": "app.bsky.feed.post", "limit": "100"}
        async with self.pds.http.get(self.pds.xrpc_url("com.atproto.repo.listRecords"), params=params) as answer:
            assert answer.status == 200
            records: list[dict[str, Any]] = (await answer.json())["records"]
            return records

    async def post(self, published: Published) -> dict[str, Any]:
        found = [r["value"] for r in await self.posts() if r["uri"] == published.remote_id]
        assert len(found) == 1
        return found[0]


async def _new_town(hub: Hub, pds: RunningPds, setup: Setup, server: str, password: str | None = None) -> Town:
    handle = f"ville-{secrets.token_hex(4)}.test"
    created = await pds.create_account(handle, f"com@{handle}", "mot-de-passe-principal")
    app_password = await pds.create_app_password(created.access_jwt, "unisson")
    town = setup.town(PANTIN)
    account = await hub.accounts.link(
        setup.officer(PANTIN), town.id, Platform.BLUESKY, handle, password or app_password, server=server
    )
    announcement = await propose(hub, setup)
    return Town(hub, pds, account, created.did, app_password, announcement.id)


@pytest_asyncio.fixture(loop_scope="session")
async def setup(hub: Hub, tmp_path: Path) -> Setup:
    return await build_coalition(hub, tmp_path, (PANTIN,))


@pytest_asyncio.fixture(loop_scope="session")
async def town(hub: Hub, pds: RunningPds, setup: Setup) -> Town:
    """A town whose account is linked straight to the PDS."""
    return await _new_town(hub, pds, setup, pds.url)


@pytest_asyncio.fixture(loop_scope="session")
async def proxy(pds: RunningPds) -> AsyncIterator[FaultProxy]:
    """A fault proxy in front of the PDS that also names itself as the account's PDS in the session's didDoc,
    so that every call of the publisher goes through it."""
    async with FaultProxy(pds.url) as proxy:
        proxy.transform[CREATE_SESSION] = _with_did_doc(proxy.url)
        proxy.transform[REFRESH_SESSION] = _with_did_doc(proxy.url)
        yield proxy


@pytest_asyncio.fixture(loop_scope="session")
async def proxied(hub: Hub, pds: RunningPds, setup: Setup, proxy: FaultProxy) -> Town:
    """A town whose account is linked through the fault proxy."""
    return await _new_town(hub, pds, setup, proxy.url)


@pytest_asyncio.fixture(loop_scope="session")
async def publisher(hub: Hub, pds: RunningPds) -> AsyncIterator[BlueskyPublisher]:
    publisher = BlueskyPublisher(StoreGateway(hub), plc_url=pds.plc_url, timeout=5.0)
    yield publisher
    await publisher.close()


@pytest_asyncio.fixture(loop_scope="session")
async def restart(hub: Hub, pds: RunningPds) -> AsyncIterator[Callable[[], BlueskyPublisher]]:
    """Makes new publishers on the same hub, as after a restart: only the stored session survives."""
    made: list[BlueskyPublisher] = []

    def new() -> BlueskyPublisher:
        made.append(BlueskyPublisher(StoreGateway(hub), plc_url=pds.plc_url, timeout=5.0))
        return made[-1]

    yield new
    for publisher in made:
        await publisher.close()


def _with_did_doc(endpoint: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def add(session: dict[str, Any]) -> dict[str, Any]:
        service = {"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": endpoint}
        return {**session, "didDoc": {"id": session["did"], "service": [service]}}

    return add


def _noise_png(width: int, height: int) -> bytes:
    """A PNG of random pixels: it does not compress, so it is far over a megabyte at 800×800."""
    image = Image.frombytes("RGB", (width, height), secrets.token_bytes(width * height * 3))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _slice(text: str, facet: dict[str, Any]) -> str:
    index = facet["index"]
    return text.encode("utf-8")[index["byteStart"] : index["byteEnd"]].decode("utf-8")


async def _restore_session(town: Town, **changes: str) -> None:
    stored = await town.hub.accounts.credentials(town.account.id)
    assert stored.session is not None
    await town.hub.accounts.save_session(town.account.id, json.dumps({**json.loads(stored.session), **changes}))


# --- sessions -------------------------------------------------------------------------------------------------


async def test_five_posts_open_one_session(publisher: BlueskyPublisher, proxied: Town, proxy: FaultProxy) -> None:
    for number in range(5):
        await publisher.publish(await proxied.job(f"Annonce n° {number}"))

    assert proxy.calls[CREATE_SESSION] == 1
    assert len(await proxied.posts()) == 5


async def test_a_new_publisher_reuses_the_stored_session(
    restart: Callable[[], BlueskyPublisher], proxied: Town, proxy: FaultProxy
) -> None:
    for _ in range(2):  # as after a restart: a new publisher, the same hub
        restarted = restart()
        await restarted.publish(await proxied.job())

    assert proxy.calls[CREATE_SESSION] == 1


async def test_an_invalid_access_token_is_refreshed_transparently(
    publisher: BlueskyPublisher, restart: Callable[[], BlueskyPublisher], proxied: Town, proxy: FaultProxy
) -> None:
    await publisher.verify(proxied.account)
    await _restore_session(proxied, access_jwt="eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjF9.bm9wZQ")
    restarted = restart()

    published = await restarted.publish(await proxied.job("Après rafraîchissement"))

    assert (await proxied.post(published))["text"] == "Après rafraîchissement"
    assert proxy.calls[REFRESH_SESSION] == 1
    assert proxy.calls[CREATE_SESSION] == 1


async def test_concurrent_jobs_refresh_once(
    publisher: BlueskyPublisher, restart: Callable[[], BlueskyPublisher], proxied: Town, proxy: FaultProxy
) -> None:
    await publisher.verify(proxied.account)
    await _restore_session(proxied, access_jwt="pas.un-jeton.valide")
    restarted = restart()
    jobs = [await proxied.job(f"Job {n}") for n in range(5)]

    await asyncio.gather(*(restarted.publish(job) for job in jobs))

    assert proxy.calls[REFRESH_SESSION] == 1
    assert proxy.calls[CREATE_SESSION] == 1
    assert len(await proxied.posts()) == 5


async def test_a_refused_refresh_opens_a_new_session(
    publisher: BlueskyPublisher, restart: Callable[[], BlueskyPublisher], proxied: Town, proxy: FaultProxy
) -> None:
    await publisher.verify(proxied.account)
    await _restore_session(proxied, access_jwt="a.b.c", refresh_jwt="d.e.f")
    restarted = restart()

    await restarted.publish(await proxied.job())

    assert proxy.calls[REFRESH_SESSION] == 1
    assert proxy.calls[CREATE_SESSION] == 2


async def test_the_session_is_stored_encrypted_without_the_password(publisher: BlueskyPublisher, town: Town) -> None:
    await publisher.verify(town.account)

    stored = await town.hub.accounts.credentials(town.account.id)
    assert stored.session is not None
    session = json.loads(stored.session)
    assert session["did"] == town.did
    assert session["pds"].startswith("http://localhost:")  # from the DID document, not the linked server
    assert town.app_password not in stored.session


# --- where the account lives --------------------------------------------------------------------------------


async def test_without_did_doc_the_pds_comes_from_the_plc_directory(
    hub: Hub, pds: RunningPds, setup: Setup, publisher: BlueskyPublisher
) -> None:
    async with FaultProxy(pds.url) as entryway:  # a login server that is not where the account lives
        town = await _new_town(hub, pds, setup, entryway.url)

        published = await publisher.publish(await town.job("Via l'annuaire PLC"))

        assert entryway.calls[CREATE_SESSION] == 1
        assert entryway.calls[CREATE_RECORD] == 0
    assert (await town.post(published))["text"] == "Via l'annuaire PLC"


async def test_the_pds_named_in_the_did_doc_is_used(
    hub: Hub, pds: RunningPds, setup: Setup, publisher: BlueskyPublisher
) -> None:
    async with FaultProxy(pds.url) as home, FaultProxy(pds.url) as entryway:
        entryway.transform[CREATE_SESSION] = _with_did_doc(home.url)
        town = await _new_town(hub, pds, setup, entryway.url)

        await publisher.publish(await town.job("Ailleurs"))

    assert (entryway.calls[CREATE_SESSION], entryway.calls[CREATE_RECORD]) == (1, 0)
    assert home.calls[CREATE_RECORD] == 1


# --- rich text, link cards and images -----------------------------------------------------------------------


async def test_links_tags_and_mentions_get_facets_at_utf8_byte_offsets(
    hub: Hub, pds: RunningPds, setup: Setup, publisher: BlueskyPublisher, town: Town
) -> None:
    friend = await pds.create_account(f"voisine-{secrets.token_hex(3)}.test", "v@voisine.test", "mot-de-passe")
    text = f"Fête de Noël à Pantin 🎄👨‍👩‍👧 : {DEAD_LINK}. #AuRevoirX avec @{friend.handle} et @inconnue.test !"

    record = await town.post(await publisher.publish(await town.job(text)))

    assert record["langs"] == ["fr"]
    shown = {_slice(text, f): f["features"][0] for f in record["facets"]}
    assert shown == {
        DEAD_LINK: {"$type": "app.bsky.richtext.facet#link", "uri": DEAD_LINK},
        "#AuRevoirX": {"$type": "app.bsky.richtext.facet#tag", "tag": "AuRevoirX"},
        f"@{friend.handle}": {"$type": "app.bsky.richtext.facet#mention", "did": friend.did},
    }
    assert "embed" not in record  # the link is dead: no card, and the post went out all the same


@pytest_asyncio.fixture(loop_scope="session")
async def site() -> AsyncIterator[str]:
    """A town's web page on loopback with Open Graph tags and a large og:image."""
    picture = _noise_png(800, 800)
    page = (
        "<html><head><title>Repli</title>"
        '<meta property="og:title" content="Pantin quitte X">'
        '<meta property="og:description" content="Retrouvez-nous sur Bluesky &amp; Mastodon.">'
        '<meta property="og:image" content="/carte.png">'
        "</head><body>Bonjour</body></html>"
    )

    async def html(_: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    async def png(_: web.Request) -> web.Response:
        return web.Response(body=picture, content_type="image/png")

    app = web.Application()
    app.router.add_get("/annonce", html)
    app.router.add_get("/carte.png", png)
    runner = web.AppRunner(app)
    await runner.setup()
    server = web.TCPSite(runner, "127.0.0.1", 0)
    await server.start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}"
    await runner.cleanup()


async def test_a_link_gets_a_card_with_its_page_title_and_image(
    publisher: BlueskyPublisher, town: Town, site: str
) -> None:
    record = await town.post(await publisher.publish(await town.job(f"Toutes les infos : {site}/annonce")))

    external = record["embed"]["external"]
    assert record["embed"]["$type"] == "app.bsky.embed.external"
    assert (external["uri"], external["title"]) == (f"{site}/annonce", "Pantin quitte X")
    assert external["description"] == "Retrouvez-nous sur Bluesky & Mastodon."
    assert external["thumb"]["mimeType"] == "image/jpeg"  # 1.9 MB of PNG re-encoded to fit
    assert external["thumb"]["size"] <= 1_000_000


async def test_images_carry_alt_text_and_aspect_ratio_and_fit_the_limit(
    publisher: BlueskyPublisher, town: Town, site: str
) -> None:
    big = _noise_png(900, 600)
    small = _noise_png(30, 40)
    images = (
        PostImage(big, "image/png", "Le parvis de la mairie", 900, 600),
        PostImage(small, "image/png", "Logo", 30, 40),
    )

    record = await town.post(await publisher.publish(await town.job(f"Deux images et {site}/annonce", images=images)))

    embed = record["embed"]  # images win over the link card
    assert embed["$type"] == "app.bsky.embed.images"
    assert [i["alt"] for i in embed["images"]] == ["Le parvis de la mairie", "Logo"]
    assert [(i["aspectRatio"]["width"], i["aspectRatio"]["height"]) for i in embed["images"]] == [(900, 600), (30, 40)]
    assert len(big) > 1_000_000 >= embed["images"][0]["image"]["size"]
    assert embed["images"][1]["image"]["size"] == len(small)  # small enough: sent as it is


async def test_a_stated_lower_blob_limit_is_obeyed_on_a_second_try(
    publisher: BlueskyPublisher, proxied: Town, proxy: FaultProxy
) -> None:
    proxy.force[UPLOAD_BLOB] = Forced(
        400,
        {"error": "BlobTooLarge", "message": "This file is too large. It is 1.20MB but the maximum size is 488.28KB"},
        times=1,
    )
    image = PostImage(_noise_png(900, 900), "image/png", "Affiche", 900, 900)

    record = await proxied.post(await publisher.publish(await proxied.job("Affiche", images=(image,))))

    assert record["embed"]["images"][0]["image"]["size"] <= 500_000
    assert proxy.calls[UPLOAD_BLOB] == 2


async def test_prepare_uploads_ahead_so_that_publishing_is_one_request(
    publisher: BlueskyPublisher, proxied: Town, proxy: FaultProxy
) -> None:
    image = PostImage(_noise_png(20, 20), "image/png", "Affiche", 20, 20)
    job = await proxied.job("Préparé #Unisson", images=(image,))
    prepared = await publisher.prepare(job)
    json.dumps(prepared)  # it is stored between prepare and publish
    before = proxy.calls.copy()

    published = await publisher.publish(replace(job, prepared=prepared))

    assert proxy.calls - before == {CREATE_RECORD: 1}
    assert (await proxied.post(published))["embed"] == prepared["embed"]


# --- publishing exactly once --------------------------------------------------------------------------------


async def test_the_rkey_is_stored_before_the_post_is_sent(
    publisher: BlueskyPublisher, proxied: Town, proxy: FaultProxy
) -> None:
    proxy.drop_after_forward[CREATE_RECORD] = 1
    job = await proxied.job("Réponse perdue")

    with pytest.raises(TransientPublishError):
        await publisher.publish(job)

    rkey = await proxied.stored_key(job.delivery_id)
    assert [r["uri"].rsplit("/", 1)[1] for r in await proxied.posts()] == [rkey]


async def test_a_stale_job_without_the_stored_rkey_does_not_post_twice(
    publisher: BlueskyPublisher, proxied: Town, proxy: FaultProxy
) -> None:
    proxy.drop_after_forward[CREATE_RECORD] = 1
    job = await proxied.job("Une fois")
    with pytest.raises(TransientPublishError):
        await publisher.publish(job)

    published = await publisher.publish(job)  # the same job again, still without remote_key

    assert [r["uri"] for r in await proxied.posts()] == [published.remote_id]
    assert proxy.calls[CREATE_RECORD] == 1


async def test_a_hundred_attempts_with_lost_answers_leave_exactly_one_post(
    publisher: BlueskyPublisher, proxied: Town, proxy: FaultProxy
) -> None:
    delivery_id = await proxied.delivery()
    proxy.drop_after_forward[CREATE_RECORD] = FOREVER
    results: list[Published] = []
    for attempt in range(100):
        # Every other check is lost too; each attempt starts from what the store holds, like the dispatcher.
        # (Forever, not once: aiohttp itself retries a GET whose kept-alive connection was reset.)
        proxy.drop_after_forward[GET_RECORD] = FOREVER if attempt % 2 else 0
        job = await proxied.job(
            "Une seule fois", delivery_id=delivery_id, remote_key=await proxied.stored_key(delivery_id)
        )
        try:
            results.append(await publisher.publish(job))
        except TransientPublishError:
            continue

    posts = await proxied.posts()
    assert len(posts) == 1
    assert len(results) == 49 and set(results) == {Published(posts[0]["uri"], results[0].url)}
    assert (
        results[0].url
        == f"https://bsky.app/profile/{proxied.account.identifier}/post/{posts[0]['uri'].rsplit('/', 1)[1]}"
    )
    assert proxy.calls[CREATE_RECORD] == 1


# --- follow-ups in thread -----------------------------------------------------------------------------------


async def test_a_followup_replies_with_strong_refs_to_the_towns_post_once_however_often_retried(
    publisher: BlueskyPublisher, proxied: Town, proxy: FaultProxy
) -> None:
    parent = await publisher.publish(await proxied.job("Départ de X"))
    delivery_id = await proxied.delivery()
    proxy.drop_after_forward[CREATE_RECORD] = 1  # the reply is made, its answer lost
    with pytest.raises(TransientPublishError):
        await publisher.publish(await proxied.job("La suite", delivery_id=delivery_id, reply_to=parent.remote_id))
    retry = await proxied.job(
        "La suite", delivery_id=delivery_id, reply_to=parent.remote_id, remote_key=await proxied.stored_key(delivery_id)
    )
    reply = await publisher.publish(retry)

    records = {r["uri"]: r for r in await proxied.posts()}
    assert len(records) == 2 and proxy.calls[CREATE_RECORD] == 2
    strong_ref = {"uri": parent.remote_id, "cid": records[parent.remote_id]["cid"]}
    refs = records[reply.remote_id]["value"]["reply"]
    assert {k: {"uri": v["uri"], "cid": v["cid"]} for k, v in refs.items() if k != "$type"} == {
        "root": strong_ref,
        "parent": strong_ref,
    }
    assert "reply" not in records[parent.remote_id]["value"]


async def test_a_followup_under_a_deleted_post_is_refused_for_good(publisher: BlueskyPublisher, town: Town) -> None:
    parent = await publisher.publish(await town.job("Départ de X"))
    await publisher.delete(town.account, parent.remote_id)
    with pytest.raises(PermanentPublishError) as refused:
        await publisher.publish(await town.job("La suite", reply_to=parent.remote_id))
    assert refused.value.message_key == "publish.followup.parent_gone"
    assert await town.posts() == []


async def _profile_record(town: Town) -> dict[str, Any]:
    params = {"repo": town.did, "collection": "app.bsky.actor.profile", "rkey": "self"}
    async with town.pds.http.get(town.pds.xrpc_url("com.atproto.repo.getRecord"), params=params) as answer:
        assert answer.status == 200
        record: dict[str, Any] = (await answer.json())["value"]
        return record


async def _put_profile(town: Town, record: dict[str, Any]) -> str:
    """Writes the profile as the town's own app would (a session of its own); returns the record's cid."""
    login = {"identifier": town.did, "password": town.app_password}
    async with town.pds.http.post(town.pds.xrpc_url("com.atproto.server.createSession"), json=login) as answer:
        token = (await answer.json())["accessJwt"]
    body = {"repo": town.did, "collection": "app.bsky.actor.profile", "rkey": "self", "record": record}
    headers = {"Authorization": f"Bearer {token}"}
    async with town.pds.http.post(town.pds.xrpc_url("com.atproto.repo.putRecord"), json=body, headers=headers) as a:
        assert a.status == 200, await a.text()
        return str((await a.json())["cid"])


async def _strong_ref(town: Town, uri: str) -> dict[str, str]:
    return {"uri": uri, "cid": next(r["cid"] for r in await town.posts() if r["uri"] == uri)}


def _without(record: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != key}


async def _stored_pin(town: Town, delivery_id: int) -> dict[str, Any] | None:
    async with town.hub.store.unit() as uow:
        stored: dict[str, Any] | None = await uow.session.scalar(
            sa.select(DeliveryRow.prepared).where(DeliveryRow.id == delivery_id)
        )
        return stored


async def test_pinning_sets_pinned_post_keeps_the_profile_and_retraction_restores_the_previous_pin(
    publisher: BlueskyPublisher, town: Town
) -> None:
    older = await publisher.publish(await town.job("Notre message épinglé jusqu'ici"))
    older_ref = await _strong_ref(town, older.remote_id)
    profile = {
        "$type": "app.bsky.actor.profile",
        "displayName": "Mairie de Pantin",
        "description": "Compte officiel",
        "pinnedPost": older_ref,
    }
    await _put_profile(town, profile)
    post = await publisher.publish(await town.job("Départ de X"))
    pin_id = await town.delivery()

    pinned = await publisher.pin(await town.job("", delivery_id=pin_id, pin_of=post.remote_id))
    again = await publisher.pin(await town.job("", delivery_id=pin_id, pin_of=post.remote_id))  # a retry

    assert pinned == again and pinned.remote_id == post.remote_id
    record = await _profile_record(town)
    assert _without(record["pinnedPost"], "$type") == await _strong_ref(town, post.remote_id)
    assert _without(record, "pinnedPost") == _without(profile, "pinnedPost")
    previous = await _stored_pin(town, pin_id)
    assert previous is not None and previous["pinned"]["uri"] == older.remote_id

    await publisher.unpin(town.account, post.remote_id, previous)
    restored = await _profile_record(town)
    assert _without(restored["pinnedPost"], "$type") == older_ref
    assert _without(restored, "pinnedPost") == _without(profile, "pinnedPost")


async def test_a_profile_edited_while_pinning_is_never_overwritten(
    publisher: BlueskyPublisher, proxied: Town, proxy: FaultProxy
) -> None:
    stale = {"$type": "app.bsky.actor.profile", "displayName": "Ancien nom"}
    stale_cid = await _put_profile(proxied, stale)
    await _put_profile(proxied, {"$type": "app.bsky.actor.profile", "displayName": "Nouveau nom"})
    seen: list[str] = []

    def read_before_the_edit(answer: dict[str, Any]) -> dict[str, Any]:
        """Our first read of the profile sees it as it was just before the town's edit landed."""
        if "app.bsky.actor.profile" not in answer["uri"] or seen:
            return answer
        seen.append(answer["cid"])
        return {**answer, "cid": stale_cid, "value": stale}

    proxy.transform[GET_RECORD] = read_before_the_edit
    post = await publisher.publish(await proxied.job("Départ de X"))
    await publisher.pin(await proxied.job("", delivery_id=await proxied.delivery(), pin_of=post.remote_id))

    record = await _profile_record(proxied)
    assert seen and record["displayName"] == "Nouveau nom"  # the write on the stale read was refused, then redone
    assert record["pinnedPost"]["uri"] == post.remote_id
    assert proxy.calls["com.atproto.repo.putRecord"] == 2


async def test_unpinning_leaves_a_pin_the_town_changed_since(publisher: BlueskyPublisher, town: Town) -> None:
    post = await publisher.publish(await town.job("Départ de X"))
    await publisher.pin(await town.job("", delivery_id=await town.delivery(), pin_of=post.remote_id))
    mine = await publisher.publish(await town.job("Mon propre choix"))
    chosen = await _strong_ref(town, mine.remote_id)
    await _put_profile(town, {"$type": "app.bsky.actor.profile", "pinnedPost": chosen})

    await publisher.unpin(town.account, post.remote_id, {"pinned": None})
    assert (await _profile_record(town))["pinnedPost"]["uri"] == mine.remote_id


# --- errors -------------------------------------------------------------------------------------------------

RESET = 1767225600  # 2026-01-01T00:00:00Z


@pytest.mark.parametrize(
    ("method", "answer", "expected"),
    [
        (CREATE_RECORD, Forced(500, {"error": "InternalServerError"}), "transient"),
        (CREATE_RECORD, Forced(502, {"error": "UpstreamFailure"}), "transient"),
        (CREATE_RECORD, Forced(503, {}), "transient"),
        (CREATE_RECORD, Forced(429, {"error": "RateLimitExceeded"}, {"RateLimit-Reset": str(RESET)}), "rate"),
        (CREATE_RECORD, Forced(400, {"error": "InvalidRequest", "message": "Invalid record"}), "permanent"),
        (CREATE_RECORD, Forced(401, {"error": "AuthenticationRequired"}, times=FOREVER), "reconnect"),
        (CREATE_SESSION, Forced(401, {"error": "AuthFactorTokenRequired"}), "reconnect"),
        (
            CREATE_SESSION,
            Forced(400, {"error": "AccountTakedown", "message": "Account has been taken down"}),
            "reconnect",
        ),
        (
            CREATE_SESSION,
            Forced(401, {"error": "AuthenticationRequired", "message": "Invalid identifier or password"}),
            "reconnect",
        ),
        (CREATE_SESSION, Forced(429, {"error": "RateLimitExceeded"}, {"RateLimit-Reset": str(RESET)}), "rate"),
        (CREATE_RECORD, "reset", "transient"),
        (CREATE_RECORD, "slow", "transient"),
    ],
)
async def test_failures_are_classified_at_the_boundary(
    hub: Hub, pds: RunningPds, proxied: Town, proxy: FaultProxy, method: str, answer: Forced | str, expected: str
) -> None:
    publisher = BlueskyPublisher(StoreGateway(hub), plc_url=pds.plc_url, timeout=0.5)
    if answer == "reset":
        proxy.drop_after_forward[method] = 1
    elif answer == "slow":
        proxy.latency = 2.0
    else:
        assert isinstance(answer, Forced)
        proxy.force[method] = answer

    with pytest.raises((TransientPublishError, PermanentPublishError)) as raised:
        await publisher.publish(await proxied.job())
    await publisher.close()

    error = raised.value
    if expected in ("transient", "rate"):
        assert isinstance(error, TransientPublishError)
        assert error.retry_at == (datetime.fromtimestamp(RESET, UTC) if expected == "rate" else None)
    else:
        assert isinstance(error, PermanentPublishError)
        assert error.reconnect is (expected == "reconnect")
    assert proxied.app_password not in error.message("fr")
    assert not error.message("fr").startswith("publish.")  # a sentence from the catalog, not a bare key


async def test_a_text_over_300_graphemes_is_refused_for_good(publisher: BlueskyPublisher, town: Town) -> None:
    with pytest.raises(PermanentPublishError) as refused:
        await publisher.publish(await town.job("é" * 301))

    assert refused.value.reconnect is False
    assert "grapheme" in refused.value.message("en")
    assert await town.posts() == []


# --- verify and delete --------------------------------------------------------------------------------------


async def test_verify_names_the_account_and_its_limits(publisher: BlueskyPublisher, town: Town) -> None:
    check = await publisher.verify(town.account)

    assert check.identifier == town.account.identifier
    assert check.limits == LIMITS == {"graphemes": 300, "bytes": 3000, "max_images": 4, "image_bytes": 1_000_000}


async def test_verify_with_a_wrong_app_password_asks_to_link_again(
    hub: Hub, pds: RunningPds, setup: Setup, publisher: BlueskyPublisher
) -> None:
    town = await _new_town(hub, pds, setup, pds.url, password="aaaa-bbbb-cccc-dddd")

    with pytest.raises(PermanentPublishError) as refused:
        await publisher.verify(town.account)

    assert refused.value.reconnect is True
    message = refused.value.message("fr")
    assert "!compte bluesky" in message and "mot de passe d'application" in message
    assert "aaaa-bbbb-cccc-dddd" not in message


async def test_delete_removes_the_post_and_a_second_delete_is_fine(publisher: BlueskyPublisher, town: Town) -> None:
    published = await publisher.publish(await town.job("À supprimer"))

    await publisher.delete(town.account, published.remote_id)
    await publisher.delete(town.account, published.remote_id)

    assert await town.posts() == []

"""The Mastodon publisher against the Mastodon double, with a real hub (SQLite and PostgreSQL) behind it.

Each test links a town's account to the double, locks a real announcement to get a delivery, and publishes it
the way the dispatcher will: the job is rebuilt from the stored delivery before every attempt, so the first
attempt's time recorded through :class:`StoreGateway` is what later attempts see.

The reliability tests run against both personalities of the double: Mastodon, and a server that ignores
``Idempotency-Key`` and puts rendered HTML in a status's ``text`` (Takahē).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from hub.core import Hub
from hub.dispatch.gateway import StoreGateway
from hub.domain.model import Account, Delivery, Platform
from hub.publishers.base import PermanentPublishError, PostImage, PostJob, Published, TransientPublishError
from hub.publishers.mastodon import MastodonPublisher
from sandbox.mastodon import CREATE_STATUS, MASTODON, TAKAHE, MastodonDouble, Personality, RateLimits, Window
from tests.integration.helpers import KREMLIN, PANTIN, Setup, build_coalition, deliveries, png, propose

# Paragraphs, a link, a remote mention and characters HTML escapes: the look-up must still recognise it.
TEXT = "{ville} quitte X !\n\nSuivez-nous sur {site} & @pantin@mastodon.example <3\n#AuRevoirX"
LOOKUP = "GET /api/v1/accounts/{id}/statuses"
GIF = b"GIF89a" + b"\x00" * 64
HOUR = 3600
#: Runs a test against both personalities of the double; the test takes a ``personality`` argument.
BOTH = pytest.mark.parametrize("personality", [MASTODON, TAKAHE], ids=["mastodon", "takahe"])


class Requests:
    """Every request the publisher's HTTP session sends, seen at the transport (aiohttp tracing)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def config(self) -> aiohttp.TraceConfig:
        trace = aiohttp.TraceConfig()

        async def started(_: Any, __: Any, params: aiohttp.TraceRequestStartParams) -> None:
            self.sent.append((params.method, params.url.path))

        trace.on_request_start.append(started)
        return trace

    def count(self, method: str, path_start: str) -> int:
        return sum(1 for m, p in self.sent if m == method and p.startswith(path_start))


@dataclass
class Desk:
    """A town linked to the double, a locked delivery for it, and the publisher under test."""

    hub: Hub
    double: MastodonDouble
    base: str
    setup: Setup
    account: Account
    other: Account
    token: str
    delivery: Delivery
    publisher: MastodonPublisher
    requests: Requests = field(default_factory=Requests)

    async def job(self, **changes: Any) -> PostJob:
        """The job as the dispatcher builds it: from the stored delivery, with the key recorded so far."""
        async with self.hub.store.unit() as uow:
            remote_key = await uow.deliveries.remote_key(self.delivery.id)
        job = PostJob(
            self.delivery.id,
            self.account,
            self.delivery.text,
            "fr",
            self.delivery.idempotency_key,
            remote_key=remote_key,
        )
        return replace(job, **changes)

    async def publish(self, **changes: Any) -> Published:
        return await self.publisher.publish(await self.job(**changes))

    async def relink(self, secret: str, server: str | None = None) -> None:
        """Links Pantin's account again, with another token (or server), as an officer would."""
        self.account = await self.hub.accounts.link(
            self.setup.officer(PANTIN),
            self.setup.town(PANTIN).id,
            Platform.MASTODON,
            self.account.identifier,
            secret,
            server=server or self.base,
        )

    def created(self) -> int:
        return self.requests.count("POST", "/api/v1/statuses")


MakeDesk = Callable[..., Awaitable[Desk]]


@pytest.fixture
async def make_desk(hub: Hub, tmp_path: Path) -> AsyncIterator[MakeDesk]:
    async with contextlib.AsyncExitStack() as stack:

        async def make(
            *,
            scopes: tuple[str, ...] = ("read", "write"),
            options: dict[str, Any] | None = None,
            personality: Personality = MASTODON,
            **settings: Any,
        ) -> Desk:
            double = MastodonDouble(seed=7, personality=personality, **settings)
            double.add_account("pantin", language="fr")
            double.add_account("kremlin")
            base = await stack.enter_async_context(double.serve())
            token = double.issue_token("pantin", scopes)
            setup = await build_coalition(hub, tmp_path, (PANTIN, KREMLIN))
            account = await _link(hub, setup, PANTIN, "@pantin@mastodon.example", token, base)
            other = await _link(hub, setup, KREMLIN, "@kremlin@mastodon.example", double.issue_token("kremlin"), base)
            delivery = await _locked_delivery(hub, setup)
            requests = Requests()
            http = await stack.enter_async_context(aiohttp.ClientSession(trace_configs=[requests.config()]))
            publisher = MastodonPublisher(StoreGateway(hub), http=http, clock=double.now, **(options or {}))
            stack.push_async_callback(publisher.close)
            return Desk(hub, double, base, setup, account, other, token, delivery, publisher, requests)

        yield make


async def _link(hub: Hub, setup: Setup, code: str, identifier: str, token: str, base: str) -> Account:
    town = setup.town(code)
    return await hub.accounts.link(setup.officer(code), town.id, Platform.MASTODON, identifier, token, server=base)


async def _locked_delivery(hub: Hub, setup: Setup) -> Delivery:
    announcement = await propose(hub, setup, TEXT)
    await hub.announcements.sign(setup.officer(PANTIN), announcement.id)
    await hub.announcements.schedule(setup.coordinator, announcement.id, "20/01/2026 9h")
    await hub.announcements.lock(setup.coordinator, announcement.id)
    [delivery] = await deliveries(hub, announcement.id)
    return delivery


async def _attempt(desk: Desk) -> Published | None:
    """One dispatcher attempt: the result, or None after a transient failure."""
    try:
        return await desk.publish()
    except TransientPublishError:
        return None


# --- verify ----------------------------------------------------------------------------------------------


async def test_verify_names_the_account_and_reads_the_servers_limits(make_desk: MakeDesk) -> None:
    desk = await make_desk(max_characters=1000, description_limit=1200)
    check = await desk.publisher.verify(desk.account)
    assert check.identifier == f"@pantin@{urlsplit(desk.base).netloc}"
    assert check.limits["max_characters"] == 1000
    assert check.limits["characters_reserved_per_url"] == 23
    assert check.limits["max_media_attachments"] == 4
    assert check.limits["description_limit"] == 1200
    assert check.limits["image_size_limit"] == 16 * 1024 * 1024
    assert "image/png" in check.limits["supported_mime_types"]


async def test_the_instance_is_read_once_for_every_account_of_the_server(make_desk: MakeDesk) -> None:
    desk = await make_desk()
    checks = await asyncio.gather(*(desk.publisher.verify(a) for a in (desk.account, desk.other, desk.account)))
    assert [c.identifier.split("@")[1] for c in checks] == ["pantin", "kremlin", "pantin"]
    assert desk.requests.count("GET", "/api/v2/instance") == 1
    assert desk.requests.count("GET", "/api/v1/accounts/verify_credentials") == 3


async def test_the_instance_is_read_again_once_its_ttl_is_over(make_desk: MakeDesk) -> None:
    desk = await make_desk(options={"instance_ttl": 0.0})
    desk.double.max_characters = 700
    await desk.publisher.verify(desk.account)
    desk.double.max_characters = 800
    assert (await desk.publisher.verify(desk.other)).limits["max_characters"] == 800
    assert desk.requests.count("GET", "/api/v2/instance") == 2


async def test_verify_with_a_revoked_token_asks_to_reconnect(make_desk: MakeDesk) -> None:
    desk = await make_desk()
    desk.double.revoke_token(desk.token)
    with pytest.raises(PermanentPublishError) as caught:
        await desk.publisher.verify(desk.account)
    assert caught.value.reconnect
    assert "The access token was revoked" in caught.value.message("fr")


# --- publish -------------------------------------------------------------------------------------------


async def test_publish_posts_the_text_with_its_language_and_visibility(make_desk: MakeDesk) -> None:
    desk = await make_desk(options={"visibility": "unlisted"})
    published = await desk.publish()
    [status] = desk.double.statuses("pantin")
    assert published == Published(status.id, status.url)
    assert (status.text, status.language, status.visibility) == (desk.delivery.text, "fr", "unlisted")
    assert status.idempotency_key == desk.delivery.idempotency_key


async def test_publish_records_the_first_attempt_before_sending_and_keeps_it(make_desk: MakeDesk) -> None:
    desk = await make_desk()
    desk.double.inject("server_error", on=CREATE_STATUS)
    assert await _attempt(desk) is None
    first = (await desk.job()).remote_key
    assert first is not None and abs(desk.double.now() - datetime.fromisoformat(first)) < timedelta(seconds=5)
    await desk.publish()
    assert (await desk.job()).remote_key == first


async def test_prepare_uploads_images_with_their_alt_and_publish_reuses_them(make_desk: MakeDesk) -> None:
    desk = await make_desk()
    images = (
        PostImage(png((200, 30, 30)), "image/png", "Logo de Pantin", 4, 3),
        PostImage(png((30, 200, 30)), "image/png", "Carte du départ", 4, 3),
    )
    job = await desk.job(images=images)
    prepared = await desk.publisher.prepare(job)
    published = await desk.publisher.publish(replace(job, prepared=prepared))
    [status] = desk.double.statuses("pantin")
    assert published.remote_id == status.id
    assert [m.id for m in status.media] == prepared["media_ids"]
    assert [m.description for m in status.media] == ["Logo de Pantin", "Carte du départ"]
    assert desk.requests.count("POST", "/api/v2/media") == 2


async def test_media_still_processing_is_polled_until_ready(make_desk: MakeDesk) -> None:
    desk = await make_desk(media_processing_seconds=0.6)
    job = await desk.job(images=(PostImage(GIF, "image/gif", "Animation de départ", 4, 3),))
    prepared = await desk.publisher.prepare(job)
    assert desk.requests.count("GET", "/api/v1/media/") >= 1
    await desk.publisher.publish(replace(job, prepared=prepared))
    [status] = desk.double.statuses("pantin")
    assert [(m.id, m.kind) for m in status.media] == [(prepared["media_ids"][0], "gifv")]


async def test_publish_uploads_the_images_itself_when_nothing_was_prepared(make_desk: MakeDesk) -> None:
    desk = await make_desk()
    image = PostImage(png((0, 90, 200)), "image/png", "Affiche", 4, 3)
    await desk.publish(images=(image,))
    [status] = desk.double.statuses("pantin")
    assert [m.description for m in status.media] == ["Affiche"]


async def test_media_still_processing_after_the_bound_is_transient(make_desk: MakeDesk) -> None:
    desk = await make_desk(media_processing_seconds=HOUR, options={"media_timeout": 0.6})
    with pytest.raises(TransientPublishError) as caught:
        await desk.publisher.prepare(await desk.job(images=(PostImage(GIF, "image/gif", "Animation", 4, 3),)))
    assert caught.value.message_key == "publish.mastodon.media_processing"
    assert desk.requests.count("GET", "/api/v1/media/") >= 1


async def test_a_status_deleted_since_its_first_publication_is_not_posted_again(make_desk: MakeDesk) -> None:
    desk = await make_desk()
    published = await desk.publish()
    await desk.publisher.delete(desk.account, published.remote_id)
    with pytest.raises(PermanentPublishError) as caught:
        await desk.publish()
    assert caught.value.message_key == "publish.mastodon.deleted_since"
    assert desk.double.statuses("pantin") == []


# --- exactly once (done-when) ------------------------------------------------------------------------------


@BOTH
async def test_a_hundred_attempts_with_answers_lost_after_the_commit_leave_one_status(
    make_desk: MakeDesk, personality: Personality
) -> None:
    desk = await make_desk(personality=personality)
    fault = desk.double.inject("commit_then_reset", count=99, on=CREATE_STATUS)
    results = [await _attempt(desk) for _ in range(100)]
    [status] = desk.double.statuses("pantin")
    assert results[-1] == Published(status.id, status.url)
    assert {r for r in results if r is not None} == {Published(status.id, status.url)}
    if personality.honours_idempotency:
        assert fault.fired == 99 and results[:99] == [None] * 99
        assert desk.created() == 100  # every attempt reached the server; the key made 99 of them replays
    else:
        assert fault.fired == 1 and results[0] is None
        assert desk.created() == 1  # the first retry looked, found the post, and posted nothing


@BOTH
@pytest.mark.parametrize("lost", ["commit_then_timeout", "commit_then_502", "commit_then_reset"])
async def test_a_retry_after_the_server_got_the_post_makes_no_second_status(
    make_desk: MakeDesk, personality: Personality, lost: Any
) -> None:
    desk = await make_desk(personality=personality, options={"timeout": 0.5})
    desk.double.inject(lost, on=CREATE_STATUS, seconds=5)
    with pytest.raises(TransientPublishError):
        await desk.publish()
    [status] = desk.double.statuses("pantin")
    assert await desk.publish() == Published(status.id, status.url)
    assert await desk.publish() == Published(status.id, status.url)
    assert len(desk.double.statuses("pantin", include_deleted=True)) == 1  # counted on the server's side


@BOTH
async def test_a_hundred_attempts_after_the_key_expired_leave_one_status(
    make_desk: MakeDesk, personality: Personality
) -> None:
    desk = await make_desk(personality=personality)
    desk.double.inject("commit_then_reset", count=None, on=CREATE_STATUS)
    lookup_failures = desk.double.inject("server_error", count=None, fraction=0.3, on=LOOKUP)
    results = []
    for _ in range(100):
        results.append(await _attempt(desk))
        desk.double.advance(HOUR + 1)  # the server has forgotten the key before every retry
    [status] = desk.double.statuses("pantin")
    found = [r for r in results if r is not None]
    assert set(found) == {Published(status.id, status.url)} and len(found) > 50
    assert lookup_failures.fired > 0
    assert desk.created() == 1  # a failed look-up never falls back to posting


@BOTH
async def test_after_the_key_expired_a_post_that_never_arrived_is_posted_once(
    make_desk: MakeDesk, personality: Personality
) -> None:
    desk = await make_desk(personality=personality)
    desk.double.inject("server_error", on=CREATE_STATUS)
    assert await _attempt(desk) is None
    desk.double.advance(HOUR + 1)
    published = await desk.publish()
    assert await desk.publish() == published
    [status] = desk.double.statuses("pantin")
    assert published == Published(status.id, status.url)


@BOTH
async def test_the_look_up_ignores_an_identical_status_older_than_the_first_attempt(
    make_desk: MakeDesk, personality: Personality
) -> None:
    desk = await make_desk(personality=personality)
    older = await _post_directly(desk, desk.delivery.text)
    desk.double.advance(2 * HOUR)
    desk.double.inject("server_error", on=CREATE_STATUS)
    assert await _attempt(desk) is None
    desk.double.advance(HOUR + 1)
    published = await desk.publish()
    assert [s.id for s in desk.double.statuses("pantin")] == [older, published.remote_id]


@BOTH
async def test_the_look_up_pages_back_through_the_accounts_statuses(
    make_desk: MakeDesk, personality: Personality
) -> None:
    desk = await make_desk(personality=personality)
    desk.double.inject("commit_then_reset", on=CREATE_STATUS)
    assert await _attempt(desk) is None
    for n in range(85):  # the town kept posting during the outage
        await _post_directly(desk, f"Autre message n°{n}")
    desk.double.advance(HOUR + 1)
    published = await desk.publish()
    assert published.remote_id == desk.double.statuses("pantin")[0].id
    assert desk.requests.count("GET", "/api/v1/accounts/") == 4  # its id, then 3 pages of 40
    assert desk.created() == 1


@BOTH
async def test_concurrent_attempts_with_one_key_make_one_status(make_desk: MakeDesk, personality: Personality) -> None:
    desk = await make_desk(status_create_seconds=0.2, personality=personality)
    job = await desk.job()
    results = await asyncio.gather(*(desk.publisher.publish(job) for _ in range(20)))
    [status] = desk.double.statuses("pantin")
    assert set(results) == {Published(status.id, status.url)}


@BOTH
async def test_concurrent_retries_after_the_key_expired_make_one_status(
    make_desk: MakeDesk, personality: Personality
) -> None:
    desk = await make_desk(status_create_seconds=0.2, personality=personality)
    desk.double.inject("server_error", on=CREATE_STATUS)
    assert await _attempt(desk) is None
    desk.double.advance(HOUR + 1)
    job = await desk.job()
    results = await asyncio.gather(*(desk.publisher.publish(job) for _ in range(20)))
    [status] = desk.double.statuses("pantin")
    assert set(results) == {Published(status.id, status.url)}


async def _post_directly(desk: Desk, text: str) -> str:
    """A status the town posts itself, outside the hub."""
    headers = {"Authorization": f"Bearer {desk.token}"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{desk.base}/api/v1/statuses", data={"status": text}, headers=headers) as response,
    ):
        assert response.status == 200
        return str((await response.json())["id"])


# --- rate limits -----------------------------------------------------------------------------------------


async def test_a_used_up_window_is_not_sent_to_and_gives_its_reset(make_desk: MakeDesk) -> None:
    desk = await make_desk(rate_limits=RateLimits(statuses=Window(1, 3 * HOUR)))
    await desk.publish()
    state = desk.publisher.rate_limit(desk.account)
    assert state is not None and (state.limit, state.remaining) == (1, 0) and state.reset > desk.double.now()
    assert desk.publisher.host_rate_limit(desk.base) == state
    another = {"idempotency_key": "une-autre-publication", "text": "Une autre publication"}
    with pytest.raises(TransientPublishError) as caught:
        await desk.publish(**another)
    assert caught.value.retry_at == state.reset
    assert desk.created() == 1
    desk.double.advance((state.reset - desk.double.now()).total_seconds() + 1)
    await desk.publish(**another)
    assert len(desk.double.statuses("pantin")) == 2


async def test_a_429_is_transient_until_the_windows_reset(make_desk: MakeDesk) -> None:
    desk = await make_desk()
    desk.double.inject("rate_limit", on=CREATE_STATUS)
    with pytest.raises(TransientPublishError) as caught:
        await desk.publish()
    retry_at = caught.value.retry_at
    assert retry_at is not None and desk.double.now() < retry_at <= desk.double.now() + timedelta(seconds=300)
    with pytest.raises(TransientPublishError):
        await desk.publish()  # paced: not sent before the reset
    assert desk.created() == 1
    desk.double.advance((retry_at - desk.double.now()).total_seconds() + 1)
    await desk.publish()
    assert len(desk.double.statuses("pantin")) == 1


# --- error mapping -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One failure: how to provoke it, and the error the dispatcher must get."""

    name: str
    arrange: Callable[[Desk], Awaitable[None]]
    error: type[Exception]
    key: str
    reconnect: bool = False
    settings: dict[str, Any] = field(default_factory=dict)
    #: Changes to the job (e.g. media ids the server does not know).
    job: dict[str, Any] = field(default_factory=dict)
    #: Documented for Mastodon only (other servers' answers to these are not known).
    mastodon_only: bool = False


async def _inject(desk: Desk, kind: Any, **options: Any) -> None:
    desk.double.inject(kind, on=CREATE_STATUS, **options)


async def _revoke(desk: Desk) -> None:
    desk.double.revoke_token(desk.token)


async def _disable(desk: Desk) -> None:
    desk.double.disable_account("pantin")


async def _unknown_token(desk: Desk) -> None:
    await desk.relink("jeton-inconnu")


async def _app_token(desk: Desk) -> None:
    await desk.relink(desk.double.issue_app_token(("read", "write")))


async def _server_gone(desk: Desk) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    await desk.relink(desk.token, server=f"http://127.0.0.1:{port}")


async def _nothing(desk: Desk) -> None:
    return None


CASES = [
    Case("5xx", lambda d: _inject(d, "server_error", status=503), TransientPublishError, "server_error"),
    Case("502 after commit", lambda d: _inject(d, "commit_then_502"), TransientPublishError, "server_error"),
    Case("reset after commit", lambda d: _inject(d, "commit_then_reset"), TransientPublishError, "unreachable"),
    Case(
        "timeout",
        lambda d: _inject(d, "timeout", seconds=5),
        TransientPublishError,
        "unreachable",
        settings={"options": {"timeout": 0.3}},
    ),
    Case("server gone", _server_gone, TransientPublishError, "unreachable"),
    Case("429", lambda d: _inject(d, "rate_limit"), TransientPublishError, "rate_limited"),
    Case("revoked token", _revoke, PermanentPublishError, "token_invalid", reconnect=True),
    Case("unknown token", _unknown_token, PermanentPublishError, "token_invalid", reconnect=True),
    Case("missing scope", _nothing, PermanentPublishError, "scope", True, {"scopes": ("read",)}),
    Case("app-only token", _app_token, PermanentPublishError, "app_token", reconnect=True, mastodon_only=True),
    Case("disabled account", _disable, PermanentPublishError, "forbidden", mastodon_only=True),
    Case("too long", _nothing, PermanentPublishError, "refused", settings={"max_characters": 20}),
    Case(
        "unknown media id",
        _nothing,
        PermanentPublishError,
        "refused",
        job={"images": (PostImage(png((1, 2, 3)), "image/png", "Logo", 4, 3),), "prepared": {"media_ids": ["4242"]}},
    ),
]
CASES_BY_SERVER = [
    pytest.param(case, personality, id=f"{name}-{case.name}")
    for name, personality in (("mastodon", MASTODON), ("takahe", TAKAHE))
    for case in CASES
    if personality is MASTODON or not case.mastodon_only
]


@pytest.mark.parametrize(("case", "personality"), CASES_BY_SERVER)
async def test_each_failure_becomes_the_right_publish_error(
    make_desk: MakeDesk, case: Case, personality: Personality
) -> None:
    desk = await make_desk(personality=personality, **case.settings)
    await case.arrange(desk)
    with pytest.raises(case.error) as caught:
        await desk.publish(**case.job)
    error = caught.value
    assert isinstance(error, TransientPublishError | PermanentPublishError)
    assert error.message_key == f"publish.mastodon.{case.key}"
    assert getattr(error, "reconnect", False) is case.reconnect
    for lang in ("fr", "en"):
        message = error.message(lang)
        assert desk.account.identifier in message and not message.startswith("publish.")
        assert desk.token not in message and desk.token not in repr(error.params)
    if case.reconnect:
        assert "!compte mastodon @pantin@mastodon.example" in error.message("fr")


@pytest.mark.parametrize(
    ("personality", "said"),
    [(MASTODON, "Text character limit of 20 exceeded"), (TAKAHE, "Status is too long")],
    ids=["mastodon", "takahe"],
)
async def test_a_refused_text_says_what_the_server_said(
    make_desk: MakeDesk, personality: Personality, said: str
) -> None:
    desk = await make_desk(max_characters=20, personality=personality)
    with pytest.raises(PermanentPublishError) as caught:
        await desk.publish()
    assert said in caught.value.message("fr")
    assert desk.double.statuses("pantin") == []


async def test_a_token_refused_in_an_html_page_says_so_and_asks_to_reconnect(make_desk: MakeDesk) -> None:
    desk = await make_desk(personality=TAKAHE)
    desk.double.revoke_token(desk.token)
    with pytest.raises(PermanentPublishError) as caught:
        await desk.publisher.verify(desk.account)
    assert caught.value.reconnect and caught.value.message_key == "publish.mastodon.token_invalid"
    assert "Invalid Bearer token" in caught.value.message("fr")


@pytest.mark.parametrize(("personality", "honours"), [(MASTODON, True), (TAKAHE, False)], ids=["mastodon", "takahe"])
async def test_the_software_is_read_once_per_server_at_verify(
    make_desk: MakeDesk, personality: Personality, honours: bool
) -> None:
    desk = await make_desk(personality=personality)
    await desk.publisher.verify(desk.account)
    await desk.publisher.verify(desk.other)
    software = await desk.publisher.software(desk.account)
    assert software.name == personality.software and software.honours_idempotency is honours
    assert desk.requests.count("GET", "/.well-known/nodeinfo") == 1


async def test_a_server_that_cannot_be_told_is_assumed_not_to_honour_the_key(make_desk: MakeDesk) -> None:
    desk = await make_desk()
    desk.double.inject("server_error", count=None)
    assert not (await desk.publisher.software(desk.account)).honours_idempotency
    desk.double.clear_faults()
    assert (await desk.publisher.software(desk.account)).honours_idempotency  # a failure is not remembered


# --- delete --------------------------------------------------------------------------------------------------


async def test_delete_removes_the_status_and_a_missing_one_is_fine(make_desk: MakeDesk) -> None:
    desk = await make_desk()
    published = await desk.publish()
    await desk.publisher.delete(desk.account, published.remote_id)
    [status] = desk.double.statuses("pantin", include_deleted=True)
    assert status.deleted_at is not None and desk.double.statuses("pantin") == []
    await desk.publisher.delete(desk.account, published.remote_id)
    await desk.publisher.delete(desk.account, "4242")


async def test_delete_with_a_revoked_token_asks_to_reconnect(make_desk: MakeDesk) -> None:
    desk = await make_desk()
    published = await desk.publish()
    desk.double.revoke_token(desk.token)
    with pytest.raises(PermanentPublishError) as caught:
        await desk.publisher.delete(desk.account, published.remote_id)
    assert caught.value.reconnect
    assert len(desk.double.statuses("pantin")) == 1


async def test_a_publisher_opens_and_closes_its_own_session(make_desk: MakeDesk) -> None:
    desk = await make_desk()
    own = MastodonPublisher(StoreGateway(desk.hub), clock=desk.double.now)
    try:
        assert (await own.verify(desk.account)).limits["max_characters"] == 500
    finally:
        await own.close()
    await own.close()  # closing twice is harmless

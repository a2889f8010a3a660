"""Everything the demo runs, started in order and stopped in reverse: Synapse, Bluesky, Mastodon, the towns' sites,
the hub on SQLite with its dispatcher, the bot, the people's clients; then the coalition, its room, its five
towns and their verified accounts.

All of it lives in one folder of its own (``./data/demo`` by default), emptied at each start: the demo's
homeserver keeps nothing between runs, so neither may the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import secrets
import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from bot.client import Bot
from bot.settings import BotSettings
from demo.cast import BOT, COORDINATOR, TOWNS, DemoTown
from demo.people import MODERATOR, DemoError, Member, Transcript, until
from demo.servers import (
    BLUESKY_APP,
    BlueskyAccount,
    BlueskyServer,
    MastodonAccount,
    bluesky_server,
    open_mastodon_account,
    town_sites,
)
from hub.core import OPERATOR, Hub
from hub.crypto import generate_key
from hub.dispatch.worker import Dispatcher
from hub.domain.model import Platform, Town, TownKind
from hub.i18n import translate
from hub.reference import lookup
from hub.settings import Settings
from hub.store import migrate
from hub.web.app import HttpEndpoint, Monitoring
from sandbox import pds
from sandbox.mastodon import MastodonDouble
from sandbox.synapse import RunningSynapse, run_synapse

#: Written into the demo's folder: only a folder holding it is ever emptied.
MARK = ".unisson-demo"
#: Accounts are checked and images uploaded this long before the instant (15 minutes in production).
PREFLIGHT_MINUTES = 0.25
#: How long the dispatcher may take to finish its in-flight posts when the demo stops.
_DISPATCHER_GRACE = 20.0


@dataclass(frozen=True)
class DemoOptions:
    """``lang``: narration and room language; ``data_dir``: the demo's own folder; ``once``: exit after the
    recap; ``doubles``: the Bluesky double even where the real PDS is installed; ``lead_seconds``: from locking
    to the publication instant."""

    lang: str = "fr"
    data_dir: Path = Path("data/demo")
    once: bool = False
    doubles: bool = False
    lead_seconds: float = 20.0


@dataclass(frozen=True, slots=True)
class Login:
    """A Matrix account a person may sign in with to join the room."""

    name: str
    user_id: str
    password: str


@dataclass
class Stage:
    options: DemoOptions
    say: Callable[[str], None]
    folder: Path
    synapse: RunningSynapse
    bluesky: BlueskyServer
    mastodon: MastodonDouble
    mastodon_url: str
    sites_url: str
    hub: Hub
    dispatcher: asyncio.Task[None]
    bot: Bot
    coordinator: Member
    #: The officers by their town's code.
    officers: dict[str, Member]
    transcript: Transcript
    room_id: str = ""
    room_alias: str = ""
    coalition_id: int = 0
    towns: dict[str, Town] = field(default_factory=dict)
    bluesky_accounts: dict[str, BlueskyAccount] = field(default_factory=dict)
    mastodon_accounts: dict[str, MastodonAccount] = field(default_factory=dict)
    logins: list[Login] = field(default_factory=list)
    #: Where the hub serves the web pages (its HTTP endpoint, which the room links to).
    pages_url: str = ""

    @property
    def lang(self) -> str:
        return self.options.lang

    def narrate(self, key: str, **params: object) -> None:
        self.say(translate(key, self.lang, **params))


@contextlib.asynccontextmanager
async def open_stage(
    options: DemoOptions, say: Callable[[str], None], stop: asyncio.Event | None = None
) -> AsyncIterator[Stage]:
    """Starts everything and sets up the coalition; stops everything on exit, the people first. Once ``stop``
    is set (Ctrl-C), the next wait raises :class:`~demo.people.Interrupted`."""
    lang = options.lang
    if importlib.util.find_spec("synapse") is None:
        raise DemoError("demo.error.no_synapse")
    folder = await asyncio.to_thread(_fresh_folder, options.data_dir)
    say(translate("demo.title", lang))
    say(translate("demo.step.servers", lang))
    async with contextlib.AsyncExitStack() as stack:
        synapse = await stack.enter_async_context(run_synapse(folder / "synapse"))
        real = not options.doubles and await asyncio.to_thread(pds.is_installed)
        bluesky = await stack.enter_async_context(bluesky_server(folder, real=real))
        mastodon = MastodonDouble()
        mastodon_url = await stack.enter_async_context(mastodon.serve())
        sites_url = await stack.enter_async_context(town_sites(_site_pages(lang), bluesky.url))
        _tell_servers(say, lang, synapse, bluesky, mastodon_url, sites_url)

        # The double shows each post on a page of its own; the real PDS's posts go through the sites server.
        app_url = sites_url + BLUESKY_APP if bluesky.real else bluesky.url
        hub = Hub.from_settings(_hub_settings(folder, lang, bluesky.plc_url, app_url))
        stack.push_async_callback(hub.close)
        await migrate.upgrade(hub.store)
        pages_url = await _serve_pages(hub, stack)
        say(translate("demo.server.pages", lang, url=pages_url))
        bot = await _start_bot(hub, synapse, folder, stack)
        # After the bot, so that it stops first: its last claims are handed back while the bot still runs.
        dispatcher = await _start_dispatcher(hub, stack)
        say(translate("demo.step.hub", lang, path=str(folder)))

        transcript = Transcript(say, lang, translate("demo.person.bot", lang), stop or asyncio.Event())
        coordinator, officers, logins = await _people(synapse, lang, stack)
        coordinator.listen(transcript)
        stage = Stage(
            options, say, folder, synapse, bluesky, mastodon, mastodon_url, sites_url, hub, dispatcher, bot,
            coordinator, officers, transcript, logins=logins, pages_url=pages_url,
        )  # fmt: skip
        await _set_up_coalition(stage)
        yield stage


def _fresh_folder(path: Path) -> Path:
    """The demo's folder, emptied; a folder that exists, holds something and is not the demo's is left alone."""
    folder = path.resolve()
    if folder.exists() and any(folder.iterdir()) and not (folder / MARK).exists():
        raise DemoError("demo.error.data_dir", path=str(folder))
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    (folder / MARK).write_text("unisson demo: emptied at each start\n", encoding="utf-8")
    return folder


def _name(town: DemoTown) -> str:
    entry = lookup(TownKind.COMMUNE, town.code)
    return entry.name if entry else town.code


def _site_pages(lang: str) -> dict[str, tuple[str, str]]:
    return {
        t.slug: (
            translate("demo.site.title", lang, town=_name(t)),
            translate("demo.site.description", lang, town=_name(t)),
        )
        for t in TOWNS
    }


def _tell_servers(
    say: Callable[[str], None],
    lang: str,
    synapse: RunningSynapse,
    bluesky: BlueskyServer,
    mastodon_url: str,
    sites_url: str,
) -> None:
    say(translate("demo.server.synapse", lang, url=synapse.url))
    say(translate("demo.server.bluesky_pds" if bluesky.real else "demo.server.bluesky_double", lang, url=bluesky.url))
    say(translate("demo.server.mastodon", lang, url=mastodon_url))
    say(translate("demo.server.sites", lang, url=sites_url))


def _hub_settings(folder: Path, lang: str, plc_url: str, app_url: str) -> Settings:
    """The hub's settings, all given here: the operator's environment and ``.env`` play no part in the demo."""
    return Settings(
        _env_file=None,
        data_dir=folder / "hub",
        database_url=None,
        # A key of its own, never written down: the demo's secrets are erased with it at the next start.
        encryption_keys=SecretStr(generate_key()),
        admins=[],
        default_language=lang,
        http_port=0,
        bluesky_plc_url=plc_url,
        bluesky_app_url=app_url,
        publish_timeout=5.0,
        preflight_minutes=PREFLIGHT_MINUTES,
        retry_minutes=5.0,
    )


async def _serve_pages(hub: Hub, stack: contextlib.AsyncExitStack) -> str:
    """The hub's HTTP endpoint with the web pages, on a free local port; the room links to it from now on."""
    endpoint = HttpEndpoint(Monitoring(hub, asyncio.Event(), ()))
    await endpoint.start("127.0.0.1", 0)
    stack.push_async_callback(endpoint.stop)
    hub.settings.public_url = endpoint.url
    return endpoint.url


async def _start_dispatcher(hub: Hub, stack: contextlib.AsyncExitStack) -> asyncio.Task[None]:
    """The publication worker, before any account is linked, so that it builds the publishers it uses."""
    stop = asyncio.Event()
    task = asyncio.create_task(Dispatcher(hub).run(stop), name="demo-dispatcher")

    async def halt() -> None:
        stop.set()
        await asyncio.wait_for(task, _DISPATCHER_GRACE)

    stack.push_async_callback(halt)
    return task


async def _start_bot(hub: Hub, synapse: RunningSynapse, folder: Path, stack: contextlib.AsyncExitStack) -> Bot:
    user_id, token = await synapse.register(BOT, secrets.token_urlsafe(18))
    settings = BotSettings(
        _env_file=None,
        homeserver=synapse.url,
        user_id=user_id,
        access_token=SecretStr(token),
        store_path=folder / "bot",
        command_prefix="!",
        reminders=(),
    )
    return await stack.enter_async_context(Bot(hub, settings))


async def _people(
    synapse: RunningSynapse, lang: str, stack: contextlib.AsyncExitStack
) -> tuple[Member, dict[str, Member], list[Login]]:
    """The coordinator and one officer per town, registered and signed in."""

    async def member(localpart: str, name: str) -> Member:
        password = secrets.token_urlsafe(12)
        user_id, _ = await synapse.register(localpart, password)
        person = Member(synapse.url, user_id, password, name)
        stack.push_async_callback(person.close)
        await person.log_in()
        return person

    coordinator = await member(COORDINATOR, translate("demo.person.coordinator", lang))
    officers = {t.code: await member(t.officer, translate("demo.person.officer", lang, town=_name(t))) for t in TOWNS}
    people = [coordinator, *officers.values()]
    return coordinator, officers, [Login(p.name, p.user_id, p.password) for p in people]


async def _set_up_coalition(stage: Stage) -> None:
    """The coordinator's room bound to a coalition of the five towns, each with its two accounts checked."""
    hub, coordinator, lang = stage.hub, stage.coordinator, stage.lang
    officers = list(stage.officers.values())
    alias_part = "unisson-demo"
    stage.room_id = await coordinator.create_room(
        translate("demo.room.name", lang), alias_part, [o.user_id for o in officers]
    )
    stage.room_alias = f"#{alias_part}:{stage.synapse.server_name}"
    # As docs/coordinator.md asks: a moderator's power lets the bot delete a secret pasted in the room.
    await coordinator.promote(stage.room_id, stage.bot.user_id, MODERATOR)
    coalition = await hub.coalitions.create(OPERATOR, translate("demo.coalition.name", lang), stage.room_id, lang)
    stage.coalition_id = coalition.id
    await hub.coalitions.appoint_coordinator(OPERATOR, coalition.id, coordinator.user_id)
    await hub.towns.import_file(OPERATOR, await asyncio.to_thread(_towns_file, stage), coalition.id)
    stage.towns = {t.code: t for t in await hub.towns.list(coalition.id) if t.code}
    stage.narrate("demo.step.coalition", name=coalition.name, room=stage.room_alias)
    for town in TOWNS:
        await _link_accounts(stage, town)
    await coordinator.invite(stage.room_id, stage.bot.user_id)
    for officer in officers:
        await officer.join(stage.room_id)

    async def bot_joined() -> bool | None:
        return await coordinator.membership(stage.room_id, stage.bot.user_id) == "join" or None

    await until(bot_joined, translate("demo.wait.bot_joined", lang), stop=stage.transcript.stop)


def _towns_file(stage: Stage) -> Path:
    path = stage.folder / "villes.csv"
    rows = ["type,code,site,officiers"]
    rows += [f"commune,{t.code},{stage.sites_url}/{t.slug},{stage.officers[t.code].user_id}" for t in TOWNS]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


async def _link_accounts(stage: Stage, town: DemoTown) -> None:
    """Opens the town's accounts on both servers and links them, as its officer does with ``!compte``; the hub
    checks each at once."""
    hub, record = stage.hub, stage.towns[town.code]
    bluesky = await stage.bluesky.open_account(town.bluesky_handle)
    mastodon = open_mastodon_account(stage.mastodon, town.mastodon_username, record.name)
    stage.bluesky_accounts[town.code], stage.mastodon_accounts[town.code] = bluesky, mastodon
    checks = [
        await hub.accounts.connect(
            OPERATOR, record.id, Platform.BLUESKY, bluesky.handle, bluesky.app_password, stage.bluesky.url
        ),
        await hub.accounts.connect(
            OPERATOR, record.id, Platform.MASTODON, town.mastodon_handle, mastodon.token, stage.mastodon_url
        ),
    ]
    for check in checks:
        if check.problem is not None:
            raise check.problem
    stage.narrate(
        "demo.town.line", town=record.name, code=town.code, bluesky=bluesky.handle, mastodon=town.mastodon_handle
    )

"""The demo's story, told step by step in the room through the bot, as people at Matrix clients would act.

The coordinator proposes, four officers sign by reacting ✅ to the card, Orléans declines ❌ and says why, the
coordinator changes the wording so the signers sign the new version, sets the instant a few seconds ahead and
locks; the dispatcher publishes each signed town's text on its own accounts, and the bot's recap follows, then
the same posts as the local servers give them. Every step waits for its effect (the bot's answer, the hub's
state), within a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.card import CARD, RESIGN, card_now
from demo.cast import DECLINING, SIGNING, TOWNS, DemoTown
from demo.people import WAIT_SECONDS, DemoError, Member, until
from demo.servers import bluesky_post_url, mastodon_status_url
from demo.stage import Stage
from hub.domain.model import AnnouncementState, DeliveryState, Platform, SignOnState
from hub.i18n import translate
from hub.services.dispatch import Outcome
from hub.urls import coalition_path, feed_path, public_path

#: The command words in each language (the bot knows both; people use their own).
_COMMANDS = {
    "fr": {
        "announce": "annonce",
        "edit": "modifier",
        "schedule": "programmer",
        "lock": "verrouiller",
        "decline": "refuser",
        "link": "lien",
    },
    "en": {
        "announce": "announce",
        "edit": "edit",
        "schedule": "schedule",
        "lock": "lock",
        "decline": "decline",
        "link": "link",
    },
}
#: How long the card shown after the signatures may take to count them all.
_CARD_SECONDS = 10.0
_FINISHED = frozenset({AnnouncementState.PUBLISHED, AnnouncementState.PARTIALLY_FAILED})


@dataclass(frozen=True)
class Result:
    """The announcement's number, every post's outcome, and the posts' links on the local servers by town code."""

    number: int
    outcomes: list[Outcome]
    links: dict[str, dict[Platform, str]]
    #: The announcement's web pages on the hub's endpoint: the public page, the coordinators' status table.
    public_page: str = ""
    status_page: str = ""


async def play(stage: Stage) -> Result:
    """Runs the story from the proposal to the recap; raises :class:`DemoError` if a step does not happen."""
    number, card = await _propose(stage)
    await _sign(stage, number, card, CARD, version=1)
    await _decline(stage, number, card)
    call = await _edit(stage, number)
    await _sign(stage, number, call, RESIGN, version=2)
    await _card_caught_up(stage, number, card)
    stage.narrate("demo.step.card")
    stage.transcript.line(stage.transcript.bot_name, stage.transcript.text(card))
    await _lock(stage, number)
    outcomes = await _publish(stage, number)
    links = _links(stage, outcomes)
    public, status = await _pages(stage, number)
    return Result(number, outcomes, links, public, status)


def _command(stage: Stage, name: str) -> str:
    return "!" + _COMMANDS.get(stage.lang, _COMMANDS["fr"])[name]


async def _ask(stage: Stage, person: Member, text: str) -> None:
    """``person`` types ``text`` in the room; the bot's answer is shown once it has come."""
    stage.transcript.line(person.name, text)
    event_id = await person.say(stage.room_id, text)
    await stage.transcript.reply_to(event_id, translate("demo.wait.reply", stage.lang, text=text.splitlines()[0]))
    stage.transcript.show()


async def _remembered(stage: Stage, number: int, purpose: str) -> str:
    """The bot's latest message of ``purpose`` about the announcement (its card, its call to sign again), once it
    has reached the room."""

    async def check() -> str | None:
        messages = await stage.hub.announcements.messages(number, purpose)
        seen = {str(m.event_id) for m in stage.transcript.messages}
        return messages[-1].message_id if messages and messages[-1].message_id in seen else None

    return await until(check, translate("demo.wait.message", stage.lang, number=number), stop=stage.transcript.stop)


async def _propose(stage: Stage) -> tuple[int, str]:
    stage.narrate("demo.step.propose")
    title = translate("demo.announcement.title", stage.lang)
    wording = translate("demo.announcement.text", stage.lang)
    await _ask(stage, stage.coordinator, f"{_command(stage, 'announce')} {title}\n{wording}")
    number = max(a.id for a in await stage.hub.announcements.list(stage.coalition_id))
    card = await _remembered(stage, number, CARD)
    stage.transcript.show()
    return number, card


async def _decided(stage: Stage, number: int, town: DemoTown, state: SignOnState, version: int) -> None:
    """Waits until the hub holds ``town``'s decision (the bot counted the reaction)."""
    town_id = stage.towns[town.code].id

    async def check() -> bool | None:
        board = await stage.hub.announcements.board(number)
        found = next(s for s in board.signons if s.town.id == town_id)
        return (found.state is state and (found.version_number or version) == version) or None

    name = stage.towns[town.code].name
    await until(check, translate("demo.wait.decision", stage.lang, town=name), stop=stage.transcript.stop)


async def _react(stage: Stage, town: DemoTown, target: str, purpose: str, key: str) -> None:
    officer = stage.officers[town.code]
    where = translate("demo.target.card" if purpose == CARD else "demo.target.call", stage.lang)
    stage.transcript.line(officer.name, translate("demo.transcript.reaction", stage.lang, key=key, target=where))
    await officer.react(stage.room_id, target, key)


async def _sign(stage: Stage, number: int, target: str, purpose: str, version: int) -> None:
    stage.narrate("demo.step.sign" if version == 1 else "demo.step.sign_again")
    for town in SIGNING:
        await _react(stage, town, target, purpose, "✅")
        await _decided(stage, number, town, SignOnState.SIGNED, version)
    stage.narrate("demo.signed", count=len(SIGNING))


async def _card_caught_up(stage: Stage, number: int, card: str) -> None:
    """Gives the bot a few seconds to bring the card in the room up to the hub's state (it coalesces its edits),
    so that the card shown counts every signature just told; after that, it is shown as the room has it."""

    async def check() -> bool | None:
        _, now = await card_now(stage.hub, number, "!")
        return stage.transcript.text(card) == now.plain or None

    with contextlib.suppress(DemoError):
        await until(
            check, translate("demo.wait.message", stage.lang, number=number), _CARD_SECONDS, stage.transcript.stop
        )


async def _decline(stage: Stage, number: int, card: str) -> None:
    town = next(t for t in TOWNS if t.code == DECLINING)
    stage.narrate("demo.step.decline", town=stage.towns[town.code].name)
    await _react(stage, town, card, CARD, "❌")
    await _decided(stage, number, town, SignOnState.DECLINED, 1)
    reason = translate("demo.decline.reason", stage.lang)
    await _ask(stage, stage.officers[town.code], f"{_command(stage, 'decline')} {number} {reason}")


async def _edit(stage: Stage, number: int) -> str:
    stage.narrate("demo.step.edit")
    wording = translate("demo.announcement.text_v2", stage.lang)
    await _ask(stage, stage.coordinator, f"{_command(stage, 'edit')} {number}\n{wording}")
    call = await _remembered(stage, number, RESIGN)
    stage.transcript.show()
    return call


async def _lock(stage: Stage, number: int) -> None:
    lead = stage.options.lead_seconds
    stage.narrate("demo.step.lock", seconds=round(lead))
    announcement = await stage.hub.announcements.get(number)
    instant = (stage.hub.clock() + timedelta(seconds=lead)).astimezone(ZoneInfo(announcement.timezone))
    await _ask(stage, stage.coordinator, f"{_command(stage, 'schedule')} {number} {_typed(instant)}")
    await _ask(stage, stage.coordinator, f"{_command(stage, 'lock')} {number}")


def _typed(local: datetime) -> str:
    """The instant as a person types it, to the second: ``20/01/2026 14:05:30``."""
    return local.strftime("%d/%m/%Y %H:%M:%S")


async def _publish(stage: Stage, number: int) -> list[Outcome]:
    """Waits for the publication and the bot's recap (the message that gives every post's link)."""
    stage.narrate("demo.step.publish")
    hub = stage.hub

    async def finished() -> AnnouncementState | None:
        if stage.dispatcher.done():
            stage.dispatcher.result()  # a worker that stopped on its own: its error, not a silent wait
            raise DemoError("demo.error.dispatcher")
        state = (await hub.announcements.get(number)).state
        return state if state in _FINISHED else None

    seconds = stage.options.lead_seconds + WAIT_SECONDS
    await until(finished, translate("demo.wait.published", stage.lang), seconds, stage.transcript.stop)
    outcomes = await hub.dispatch.outcomes(number)
    urls = [o.delivery.remote_url for o in outcomes if o.delivery.remote_url]
    await stage.transcript.wait(
        lambda m: all(url in str(m.body) for url in urls), translate("demo.wait.recap", stage.lang)
    )
    stage.narrate("demo.step.recap")
    stage.transcript.show()
    failed = [o for o in outcomes if o.delivery.state is not DeliveryState.PUBLISHED]
    if failed or not outcomes:
        raise DemoError("demo.error.failed_posts", count=len(failed))
    return outcomes


def _links(stage: Stage, outcomes: list[Outcome]) -> dict[str, dict[Platform, str]]:
    """Each post as the local server gives it, by town code and network; printed under the recap."""
    stage.narrate("demo.step.links")
    links: dict[str, dict[Platform, str]] = {}
    for outcome in outcomes:
        remote_id, platform = outcome.delivery.remote_id or "", outcome.delivery.platform
        url = (
            bluesky_post_url(stage.bluesky, remote_id)
            if platform is Platform.BLUESKY
            else mastodon_status_url(stage.mastodon_url, remote_id)
        )
        links.setdefault(outcome.town.code or "", {})[platform] = url
    for town in TOWNS:
        name = stage.towns[town.code].name
        if town.code not in links:
            stage.narrate("demo.link.none", town=name)
            continue
        stage.narrate("demo.link.town", town=name)
        for platform in (Platform.BLUESKY, Platform.MASTODON):
            stage.narrate(f"demo.link.{platform.value}", url=links[town.code][platform])
    return links


async def _pages(stage: Stage, number: int) -> tuple[str, str]:
    """The web pages, printed: the public page the recap links to, and a coordinators' status link (what
    ``!lien N`` sends the coordinator in private); the coalition's page and feed."""
    base, coalition_id = stage.pages_url, stage.coalition_id
    issued = await stage.hub.links.issue(stage.coordinator.user_id, coalition_id, number)
    public, status = base + public_path(coalition_id, number), base + issued.path
    stage.narrate("demo.step.pages")
    stage.narrate("demo.pages.public", url=public)
    stage.narrate("demo.pages.status", url=status, command=f"!{_COMMANDS.get(stage.lang, _COMMANDS['fr'])['link']}")
    stage.narrate("demo.pages.coalition", url=base + coalition_path(coalition_id))
    stage.narrate("demo.pages.feed", url=base + feed_path(coalition_id))
    return public, status


async def stay_up(stage: Stage, result: Result, stop: asyncio.Event) -> None:
    """Prints how to join the room, then shows the bot's messages as they come until ``stop`` is set."""
    stage.narrate("demo.stay.header")
    stage.narrate("demo.stay.homeserver", url=stage.synapse.url, server=stage.synapse.server_name)
    stage.narrate("demo.stay.room", alias=stage.room_alias, room=stage.room_id)
    for login in stage.logins:
        stage.narrate("demo.stay.login", name=login.name, user=login.user_id, password=login.password)
    stage.narrate("demo.stay.stop", number=result.number)
    while not stop.is_set():
        stage.transcript.show()
        try:
            await asyncio.wait_for(stop.wait(), 1.0)
        except TimeoutError:
            continue

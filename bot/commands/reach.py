"""The coalition's reach. ``!pack``: its Bluesky starter pack(s), created or brought up to date. ``!relayer N
[ville, ville…]``: its own accounts repost every town's post of announcement N.

The coalition's own accounts: ``!compte-coalition bluesky HANDLE MOT_DE_PASSE_APPLI [coalition]
[https://serveur]`` (and ``mastodon @user@instance JETON``), by an admin or a coordinator, in a direct message
with the bot only. Like a town's account, the secret is never repeated nor logged, and :mod:`bot.secrets`
redacts the command in a shared room.
"""

from __future__ import annotations

from bot.commands.accounts import BLUESKY_LIMIT, town_and_server
from bot.commands.announcements.shared import NUMBER, announcement_of, coalition_of, refresh
from bot.context import Request
from bot.reach_reports import counts_text
from bot.registry import Argument, Arguments, Audience, command
from bot.render import Reply
from bot.secrets import COALITION_ACCOUNT_COMMAND, HIDDEN
from hub.domain.model import AnnouncementState, Coalition, Platform
from hub.errors import InvalidInput
from hub.i18n import format_instant, translate
from hub.services.coalition_accounts import CoalitionHealth
from hub.services.reposts import RepostPlan

#: The announcements whose card ``!pack`` brings up to date: the latest few still in people's sight.
CARD_STATES = (
    AnnouncementState.OPEN,
    AnnouncementState.LOCKED,
    AnnouncementState.PUBLISHING,
    AnnouncementState.PUBLISHED,
    AnnouncementState.PARTIALLY_FAILED,
)
CARDS_UPDATED = 3


@command(
    COALITION_ACCOUNT_COMMAND[0],
    english=COALITION_ACCOUNT_COMMAND[1],
    arguments=(
        Argument("accounts.platform", choices=tuple(p.value for p in Platform)),
        Argument("accounts.identifier"),
        Argument("accounts.secret"),
        Argument("reach.where", optional=True, rest=True),
    ),
    audience=Audience.COORDINATOR,
    summary="bot.reach.account.help",
    details="bot.reach.account.help.details",
)
async def link_coalition_account(request: Request, args: Arguments) -> Reply:
    """Links and checks the coalition's own account; only in a direct conversation with the bot."""
    if not request.private:
        raise InvalidInput("bot.accounts.private_only", prefix=request.prefix)
    secret = args.text("accounts.secret")
    name, server = town_and_server(args.optional_text("reach.where") or "")
    coalition = await _coalition(request, name)
    platform = Platform(args.text("accounts.platform"))
    health = await request.hub.coalition_accounts.connect(
        request.sender, coalition.id, platform, args.text("accounts.identifier"), secret, server
    )
    return Reply.text(_result(health, request.lang).replace(secret, HIDDEN))


async def _coalition(request: Request, name: str) -> Coalition:
    """The named coalition, or the only one the sender coordinates."""
    if name:
        return await request.hub.coalition_accounts.find_coalition(name)
    actor = await request.hub.whois(request.sender)
    if len(actor.coordinator_of) == 1:
        return await request.hub.coalitions.get(next(iter(actor.coordinator_of)))
    raise InvalidInput("bot.reach.account.which_coalition", prefix=request.prefix)


def _result(health: CoalitionHealth, lang: str) -> str:
    account = health.account
    names = {
        "network": account.platform.value.capitalize(),
        "identifier": account.identifier,
        "coalition": health.coalition.name,
    }
    if health.problem is not None:
        return translate("bot.reach.account.problem", lang, problem=health.problem.message(lang), **names)
    mastodon = account.platform is Platform.MASTODON
    limit = int(account.limits.get("max_characters", 500)) if mastodon else BLUESKY_LIMIT
    return translate("bot.reach.account.ok", lang, limit=limit, **names)


@command("pack", english="pack", audience=Audience.COORDINATOR, summary="bot.reach.pack.help")
async def starter_pack(request: Request, args: Arguments) -> Reply:
    """Creates or updates the coalition's starter pack(s) on its own Bluesky account and gives their links."""
    coalition = coalition_of(request)
    links = await request.hub.starter_packs.create(request.sender, coalition.id)
    if not links:
        return Reply.text(translate("bot.reach.pack.empty", request.lang))
    lines = [translate("bot.reach.pack.done", request.lang, count=len(links))]
    lines += [f"{link.label or coalition.name} — {link.url}" for link in links]
    await _show_packs_on_cards(request, coalition)
    return Reply.text("\n".join(lines))


async def _show_packs_on_cards(request: Request, coalition: Coalition) -> None:
    """The latest announcements' cards link the packs from now on (older cards are left alone: few edits)."""
    if request.messenger is None:
        return
    shown = await request.hub.announcements.list(coalition.id, states=CARD_STATES)
    for announcement in sorted(shown, key=lambda a: a.id)[-CARDS_UPDATED:]:
        await refresh(request, announcement.id)


@command(
    "relayer",
    english="amplify",
    arguments=(NUMBER, Argument("reach.first", optional=True, rest=True)),
    audience=Audience.COORDINATOR,
    summary="bot.reach.repost.help",
)
async def amplify(request: Request, args: Arguments) -> Reply:
    """Asks the coalition's accounts to repost the announcement's posts, or tells how far they are."""
    announcement = await announcement_of(request, args)
    first = [n for n in (args.optional_text("reach.first") or "").split(",") if n.strip()]
    plan = await request.hub.reposts.ask(request.sender, announcement.id, first)
    return Reply.text(_plan_text(plan, announcement.id, announcement.timezone, request.lang))


def _plan_text(plan: RepostPlan, number: int, zone: str, lang: str) -> str:
    counts = counts_text(plan, lang)
    if plan.ends_at is None:
        return translate("bot.reach.repost.waiting", lang, id=number, counts=counts)
    when = format_instant(plan.ends_at, zone, lang)
    lines = [translate("bot.reach.repost.planned", lang, id=number, counts=counts, when=when)]
    done, failed = plan.progress.get("done", 0), plan.progress.get("failed", 0)
    lines.append(
        translate("bot.reach.repost.progress", lang, done=done, pending=plan.progress.get("pending", 0), failed=failed)
    )
    return "\n".join(lines)

"""Linking a town's Bluesky or Mastodon account, in a direct message with the bot only.

``!compte bluesky HANDLE MOT_DE_PASSE_APPLI [ville] [https://serveur]`` and ``!compte mastodon
@user@instance JETON [ville] [https://serveur]``: the bot links the account and checks it at once, then
answers with the result. The secret is never repeated in an answer nor written to the log. In a shared room the
message never gets here: :mod:`bot.secrets` redacts it first.
"""

from __future__ import annotations

from bot.context import Request
from bot.registry import Argument, Arguments, Audience, command
from bot.render import Reply
from bot.secrets import ACCOUNT_COMMAND, HIDDEN
from hub.domain.model import Platform, Town
from hub.errors import InvalidInput
from hub.i18n import translate
from hub.services.accounts import Health

#: Bluesky's own limit, the same on every server (Mastodon's is read from each server).
BLUESKY_LIMIT = 300


@command(
    ACCOUNT_COMMAND[0],
    english=ACCOUNT_COMMAND[1],
    arguments=(
        Argument("accounts.platform", choices=tuple(p.value for p in Platform)),
        Argument("accounts.identifier"),
        Argument("accounts.secret"),
        Argument("accounts.where", optional=True, rest=True),
    ),
    audience=Audience.OFFICER,
    summary="bot.accounts.help",
    details="bot.accounts.help.details",
)
async def link_account(request: Request, args: Arguments) -> Reply:
    """Links and checks a town's account; only in a direct conversation with the bot."""
    if not request.private:
        raise InvalidInput("bot.accounts.private_only", prefix=request.prefix)
    secret = args.text("accounts.secret")
    town_text, server = _town_and_server(args.optional_text("accounts.where") or "")
    town = await _town(request, town_text)
    platform = Platform(args.text("accounts.platform"))
    health = await request.hub.accounts.connect(
        request.sender, town.id, platform, args.text("accounts.identifier"), secret, server
    )
    # A server's error text could, in theory, quote what it was sent: never let the secret through.
    return Reply.text(_result(health, request.lang).replace(secret, HIDDEN))


def _town_and_server(text: str) -> tuple[str, str | None]:
    """``"Pantin https://pds.example"`` → ``("Pantin", "https://pds.example")``."""
    words = text.split()
    servers = [w for w in words if w.lower().startswith(("https://", "http://"))]
    if len(servers) > 1:
        raise InvalidInput("bot.accounts.two_servers")
    town = " ".join(w for w in words if w not in servers)
    return town, servers[0] if servers else None


async def _town(request: Request, text: str) -> Town:
    """The named town, or the sender's only town."""
    if text:
        return await request.hub.towns.find(text)
    actor = await request.hub.whois(request.sender)
    mine = [t for t in await request.hub.towns.list() if t.id in actor.officer_of]
    if len(mine) == 1:
        return mine[0]
    if not mine:
        raise InvalidInput("bot.accounts.no_town")
    names = ", ".join(t.name for t in mine)
    raise InvalidInput("bot.accounts.which_town", towns=names, prefix=request.prefix)


def _result(health: Health, lang: str) -> str:
    account = health.account
    names = {"network": account.platform.value.capitalize(), "identifier": account.identifier}
    if health.problem is not None:
        problem = health.problem.message(lang)
        return translate("bot.accounts.problem", lang, town=health.town.name, problem=problem, **names)
    mastodon = account.platform is Platform.MASTODON
    limit = int(account.limits.get("max_characters", 500)) if mastodon else BLUESKY_LIMIT
    return translate("bot.accounts.ok", lang, town=health.town.name, limit=limit, **names)

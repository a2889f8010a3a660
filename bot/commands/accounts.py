"""A town's Bluesky and Mastodon accounts, in a direct message with the bot.

- ``!compte mastodon mastodon.exemple.fr`` (or ``@mairie@mastodon.exemple.fr``) ``[ville] [http(s)://serveur]``:
  the bot sends the link to approve Unisson on that server (OAuth); the officer answers ``!code XXXX`` with the
  code their server shows, or, when the hub has a public address, the server brings them back to the hub's page.
- ``!compte mastodon @user@instance JETON [ville] [https://serveur]``: a pasted token, for servers that do not
  let apps register.
- ``!compte bluesky``: the steps to create an app password; ``!compte bluesky HANDLE MOT_DE_PASSE_APPLI [ville]
  [https://serveur]`` links it.
- ``!compte retirer mastodon|bluesky [ville]``: unlinks (the token is revoked at the server when it is ours).
- ``!comptes``: the officer's towns' accounts, their state, what to do.

A secret is never repeated in an answer nor written to the log; in a shared room the message never gets here:
:mod:`bot.secrets` redacts it first.
"""

from __future__ import annotations

import re

from bot.context import Request
from bot.registry import Argument, Arguments, Audience, command
from bot.render import Reply, Rich
from bot.secrets import ACCOUNT_COMMAND, CODE_COMMAND, HIDDEN
from hub.domain.model import Account, Platform, Town
from hub.domain.oauth import host_of
from hub.errors import InvalidInput
from hub.i18n import format_instant, translate
from hub.publishers.mastodon_oauth import OAuthUnavailable
from hub.services.accounts import Health, Unlinked
from hub.services.linking import Authorization

#: Bluesky's own limit, the same on every server (Mastodon's is read from each server).
BLUESKY_LIMIT = 300
REMOVE = ("retirer", "remove")
#: Where Bluesky's app passwords are made (the settings page of the web app).
BLUESKY_APP_PASSWORDS = "https://bsky.app/settings/app-passwords"
# A word that is a secret rather than a town's name: an app password's shape, a long run with a digit, or a
# run longer than any town's name (Mastodon tokens are 43 characters).
_SECRET_WORD = re.compile(
    r"^(?:[a-z0-9]{4}(?:-[a-z0-9]{4}){3}|(?=.*\d)[A-Za-z0-9_\-.~+/=]{16,}|[A-Za-z0-9_\-.~+/=]{32,})$", re.IGNORECASE
)


@command(
    ACCOUNT_COMMAND[0],
    english=ACCOUNT_COMMAND[1],
    arguments=(
        Argument("accounts.platform", choices=(*(p.value for p in Platform), *REMOVE)),
        Argument("accounts.details", optional=True, rest=True),
    ),
    audience=Audience.OFFICER,
    summary="bot.accounts.help",
    details="bot.accounts.help.details",
)
async def link_account(request: Request, args: Arguments) -> Reply:
    """Links, starts linking or unlinks a town's account; only in a direct conversation with the bot."""
    if not request.private:
        raise InvalidInput("bot.accounts.private_only", prefix=request.prefix)
    words = (args.optional_text("accounts.details") or "").split()
    chosen = args.text("accounts.platform")
    if chosen in REMOVE:
        return await _unlink(request, words)
    platform = Platform(chosen)
    if len(words) >= 2 and _SECRET_WORD.match(words[1]):
        return await _link_with_secret(request, platform, words[0], words[1], words[2:])
    if platform is Platform.BLUESKY:
        return await _bluesky_steps(request, words)
    if not words:
        raise InvalidInput("bot.accounts.mastodon_server", prefix=request.prefix)
    return await _authorize(request, words[0], words[1:])


@command(
    CODE_COMMAND[0],
    arguments=(Argument("accounts.code"),),
    audience=Audience.OFFICER,
    summary="bot.accounts.code.help",
)
async def authorization_code(request: Request, args: Arguments) -> Reply:
    """The code a Mastodon server showed after the officer approved Unisson."""
    if not request.private:
        raise InvalidInput("bot.accounts.private_only", prefix=request.prefix)
    code = args.text("accounts.code")
    health = await request.hub.linking.finish_with_code(request.sender, request.room_id, code)
    return Reply.text(_result(health, request.lang).replace(code, HIDDEN))


@command("comptes", english="accounts", audience=Audience.OFFICER, summary="bot.accounts.list.help")
async def list_accounts(request: Request, _args: Arguments) -> Reply:
    """The accounts of the sender's towns: state, last check, last error, the server's limit, what to do."""
    actor = await request.hub.whois(request.sender)
    towns = [t for t in await request.hub.towns.list() if t.id in actor.officer_of]
    if not towns:
        raise InvalidInput("bot.accounts.no_town")
    reply = Rich()
    for town in towns:
        reply.strong(town.name).line()
        accounts = {a.platform: a for a in await request.hub.accounts.of_town(town.id)}
        for platform in Platform:
            reply.text("• " + _state_line(accounts.get(platform), platform, town, request)).line()
    return reply.build()


async def _authorize(request: Request, where: str, rest: list[str]) -> Reply:
    town_text, server = town_and_server(" ".join(rest))
    town = await _town(request, town_text)
    try:
        authorization = await request.hub.linking.start(request.sender, town.id, where, request.room_id, server)
    except OAuthUnavailable:
        raise InvalidInput("bot.accounts.no_oauth", prefix=request.prefix, server=where) from None
    return _authorization_reply(authorization, request)


def _authorization_reply(authorization: Authorization, request: Request) -> Reply:
    lang, prefix = request.lang, request.prefix
    next_step = "bot.accounts.oauth.redirect" if authorization.redirect else "bot.accounts.oauth.code"
    return (
        Rich()
        .text(translate("bot.accounts.oauth.open", lang, town=authorization.town.name, server=authorization.server))
        .line()
        .link(authorization.url, translate("bot.accounts.oauth.link", lang, server=authorization.server))
        .line()
        .text(translate(next_step, lang, prefix=prefix, minutes=_minutes(authorization, request)))
        .build()
    )


def _minutes(authorization: Authorization, request: Request) -> int:
    return max(1, round((authorization.expires_at - request.hub.clock()).total_seconds() / 60))


async def _link_with_secret(
    request: Request, platform: Platform, identifier: str, secret: str, rest: list[str]
) -> Reply:
    town_text, server = town_and_server(" ".join(rest))
    town = await _town(request, town_text)
    health = await request.hub.accounts.connect(request.sender, town.id, platform, identifier, secret, server)
    # A server's error text could, in theory, quote what it was sent: never let the secret through.
    return Reply.text(_result(health, request.lang).replace(secret, HIDDEN))


async def _bluesky_steps(request: Request, words: list[str]) -> Reply:
    """The steps to create an app password; with a handle, found and checked first (on any server)."""
    lang = request.lang
    placeholder = translate("bot.accounts.bluesky.password", lang)
    name = ACCOUNT_COMMAND[1] if lang == "en" else ACCOUNT_COMMAND[0]
    if not words:
        command_line = f"{request.prefix}{name} bluesky mairie.bsky.social {placeholder}"
        return Reply.text(
            translate("bot.accounts.bluesky.steps", lang, url=BLUESKY_APP_PASSWORDS, command=command_line)
        )
    _, server = town_and_server(" ".join(words[1:]))
    found = await request.hub.accounts.find_bluesky(words[0], server)
    # Accounts hosted by Bluesky log in through bsky.social; any other PDS is named in the command.
    where = "" if found.pds.endswith(".bsky.network") else f" {found.pds}"
    command_line = f"{request.prefix}{name} bluesky {found.handle} {placeholder}{where}"
    found_line = translate("bot.accounts.bluesky.found", lang, handle=found.handle, pds=found.pds)
    steps = translate("bot.accounts.bluesky.steps", lang, url=BLUESKY_APP_PASSWORDS, command=command_line)
    return Reply.text(f"{found_line}\n{steps}")


async def _unlink(request: Request, words: list[str]) -> Reply:
    if not words or words[0].lower() not in {p.value for p in Platform}:
        raise InvalidInput("bot.accounts.remove_which", prefix=request.prefix)
    town = await _town(request, " ".join(words[1:]))
    unlinked = await request.hub.accounts.unlink(request.sender, town.id, Platform(words[0].lower()))
    return Reply.text(_unlinked(unlinked, request.lang))


def _unlinked(unlinked: Unlinked, lang: str) -> str:
    outcome = {True: "revoked", False: "not_revoked", None: "yours"}[unlinked.revoked]
    if unlinked.account.platform is Platform.BLUESKY and unlinked.revoked is None:
        outcome = "bluesky"
    names = {"network": unlinked.account.platform.value.capitalize(), "identifier": unlinked.account.identifier}
    return translate(f"bot.accounts.removed.{outcome}", lang, town=unlinked.town.name, **names)


def _state_line(account: Account | None, platform: Platform, town: Town, request: Request) -> str:
    lang, prefix = request.lang, request.prefix
    network = platform.value.capitalize()
    if account is None:
        return translate("bot.accounts.list.none", lang, network=network, prefix=prefix, platform=platform.value)
    names = {"network": network, "identifier": account.identifier, "limit": _limit(account)}
    if account.last_error:
        fix = repair_command(account, prefix, lang)
        return translate("bot.accounts.list.failing", lang, problem=account.last_error, fix=fix, **names)
    if account.last_verified_at is None:
        return translate("bot.accounts.list.unchecked", lang, **names)
    when = format_instant(account.last_verified_at, town.timezone, lang)
    kind = translate(f"bot.accounts.credential.{account.credential.value}", lang)
    return translate("bot.accounts.list.ok", lang, when=when, kind=kind, **names)


def repair_command(account: Account, prefix: str, lang: str) -> str:
    """The one command that links the account again (with the server when it is not the handle's domain)."""
    name = ACCOUNT_COMMAND[1] if lang == "en" else ACCOUNT_COMMAND[0]
    where = account.identifier
    if account.platform is Platform.MASTODON and host_of(account.server) != account.identifier.rsplit("@", 1)[-1]:
        where += " " + account.server
    return f"{prefix}{name} {account.platform.value} {where}"


def _limit(account: Account) -> int:
    if account.platform is Platform.MASTODON:
        return int(account.limits.get("max_characters", 500))
    return BLUESKY_LIMIT


def town_and_server(text: str) -> tuple[str, str | None]:
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
    return translate("bot.accounts.ok", lang, town=health.town.name, limit=_limit(account), **names)

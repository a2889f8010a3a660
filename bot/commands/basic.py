"""Everyday commands: help, ping, language."""

from __future__ import annotations

from bot.context import Request
from bot.registry import Argument, Arguments, command
from bot.render import Reply, Rich
from hub.i18n import LANGUAGES, translate


@command(
    "aide",
    english="help",
    aliases=("?",),
    arguments=(Argument("command", optional=True),),
    details="bot.help.aide.details",
)
async def help_(request: Request, args: Arguments) -> Reply:
    """The commands this person may use, or everything about one command."""
    wanted = args.optional_text("command")
    if wanted is None:
        return request.registry.overview(request.lang, request.audience, request.prefix)
    name = wanted.removeprefix(request.prefix)
    found = request.registry.find(name) or request.registry.suggest(name)
    if found is None:
        helper = request.registry.overview(request.lang, request.audience, request.prefix)
        unknown = translate("bot.help.unknown", request.lang, name=request.prefix + name)
        return Reply(f"{unknown}\n{helper.plain}", f"{Rich().text(unknown).build().html}<br>{helper.html}")
    return request.registry.details(found, request.lang, request.prefix)


@command("ping")
async def ping(request: Request, args: Arguments) -> Reply:
    """Shows that the bot is listening."""
    return Reply.text(translate("bot.ping", request.lang))


@command("langue", english="language", arguments=(Argument("language", choices=LANGUAGES, optional=True),))
async def language(request: Request, args: Arguments) -> Reply:
    """Shows or sets the language the bot answers this person in."""
    lang = args.optional_text("language")
    if lang is None:
        current = translate(f"bot.language.{request.lang}", request.lang)
        return Reply.text(translate("bot.language.current", request.lang, language=current, prefix=request.prefix))
    lang = await request.preferences.set_language(request.sender, lang)
    return Reply.text(translate("bot.language.set", lang, language=translate(f"bot.language.{lang}", lang)))

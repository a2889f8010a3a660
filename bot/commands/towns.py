"""``!villes``: the coalition's towns; ``!villes importer`` a file of towns; ``!villes inviter`` their officers.

``!villes`` alone lists the towns (the listing is declared in :mod:`bot.commands.admin`, this command hands it the
words). ``!villes importer``, in answer to a posted CSV or YAML file, imports it into the coalition and then invites
the officers it names to the coalition's room; without a file, the bot asks for one (see :mod:`bot.imports`).
``!villes inviter`` invites the officers still missing from the room, for instance after the bot restarted in the
middle of a run. In a direct conversation with the bot, both name the coalition after the action word.
"""

from __future__ import annotations

from bot.commands import admin
from bot.context import Request
from bot.imports import IMPORT, INVITE, MAX_FILE_BYTES, NAMES, check_importer, find_coalition, import_report
from bot.registry import Argument, Arguments, Audience, UsageError, command
from bot.render import Reply
from hub.i18n import translate


@command(
    NAMES[0],
    english=NAMES[1],
    arguments=(Argument("towns.what", rest=True, optional=True),),
    audience=Audience.ANYONE,
    summary="bot.towns.help.villes",
    details="bot.towns.help.villes.details",
)
async def towns(request: Request, args: Arguments) -> Reply:
    """Lists, imports or invites, by the word after the command."""
    first, below = args.lines("towns.what")
    action, _, named = first.partition(" ")
    if action.casefold() in IMPORT + INVITE and below:
        return request.registry.usage_reply(towns, request.lang, request.prefix)
    if action.casefold() in IMPORT:
        return await _import(request, named.strip())
    if action.casefold() in INVITE:
        return await _invite(request, named.strip())
    return await _listing(request, args.optional_text("towns.what") or "")


async def _import(request: Request, named: str) -> Reply:
    coalition = await find_coalition(request.hub, request.coalition, named, request.prefix)
    await check_importer(request.hub, request.sender, coalition)
    messenger = request.matrix()
    posted = await messenger.replied_file(request.room_id, request.event_id, MAX_FILE_BYTES)
    if posted is None:
        return Reply.text(translate("bot.towns.import.prompt", request.lang, coalition=coalition.name))
    pages, imported = await import_report(request.hub, request.sender, coalition, posted, request.lang)
    # The answer to the command comes last: the report's last page, or what the invitations will do.
    shown = pages if imported else pages[:-1]
    for page in shown:
        await messenger.send(request.room_id, page, in_reply_to=request.event_id, to=request.sender)
    if not imported:
        return pages[-1]
    return await messenger.invite_officers(request.sender, coalition, request.room_id, request.event_id, request.lang)


async def _invite(request: Request, named: str) -> Reply:
    coalition = await find_coalition(request.hub, request.coalition, named, request.prefix)
    messenger = request.matrix()
    return await messenger.invite_officers(request.sender, coalition, request.room_id, request.event_id, request.lang)


async def _listing(request: Request, words: str) -> Reply:
    try:
        parsed = admin.towns.parse(words)
    except UsageError:
        return request.registry.usage_reply(towns, request.lang, request.prefix)
    return await admin.towns.handler(request, parsed)

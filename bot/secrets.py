"""Keeping passwords and tokens out of shared rooms.

Everyone in a coalition room — and every server the room spans — keeps a copy of what is said there. A
message in a shared room that looks like a secret (a Bluesky app password, a long access token, "mot de
passe : …", or ``!compte`` with its arguments) is redacted at once, and its sender is told to revoke that
secret and to send a new one to the bot in a direct message. Only a direct conversation between the sender and
the bot, bound to no coalition, counts as private.

The patterns look for the *shape* of a secret, so that ordinary French text, dates, phone numbers and links
pass untouched; :func:`masked` hides the same spans in anything that is logged.
"""

from __future__ import annotations

import logging
import re

from nio import AsyncClient, MatrixRoom, RoomRedactResponse

from bot.context import Messenger
from bot.render import Reply, Rich
from hub.core import Hub
from hub.i18n import translate

log = logging.getLogger(__name__)

#: The names of the command that links an account (its declaration in ``bot.commands.accounts`` uses them).
ACCOUNT_COMMAND = ("compte", "account")
#: The command that hands the bot an OAuth authorization code: short-lived and single-use, still not for a room.
CODE_COMMAND = ("code",)
#: The command that links a coalition's own account (declared in ``bot.commands.reach``).
COALITION_ACCOUNT_COMMAND = ("compte-coalition", "coalition-account")
_SECRET_COMMANDS = (*ACCOUNT_COMMAND, *CODE_COMMAND, *COALITION_ACCOUNT_COMMAND)
HIDDEN = "[…]"

# Bluesky app passwords: four groups of four lower-case letters or digits ("abcd-1234-efgh-5678").
_APP_PASSWORD = re.compile(r"(?<![\w-])[a-z0-9]{4}(?:-[a-z0-9]{4}){3}(?![\w-])", re.IGNORECASE)
# Access tokens (Mastodon's are 43 url-safe characters): 40 or more, with letters and digits. Matrix ids
# ($event, !room, @user, #alias) are long too but carry their sigil; URLs are removed before this look.
_TOKEN = re.compile(r"(?<![\w$!@#%&+=/.:-])[A-Za-z0-9_-]{40,}(?![\w/.-])")
_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)
# "mot de passe : …", "password = …", "jeton est …": the word after it counts only if it does not read as
# French (letters only) — "mot de passe oublié" and "mot de passe de la réunion" are not secrets.
_LABELLED = re.compile(
    r"\b(?:mots?\s+de\s+passe(?:\s+d['’]app\w*)?|passwords?|app\s+passwords?|jetons?|tokens?)"
    r"\s*(?:(?:est|is|c['’]est)\s*)?[:=]?\s*[«\"'“]?\s*(?P<value>[^\s«»\"'“”]{6,})",
    re.IGNORECASE,
)
_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*[.,;:!?…)]*")


#: matrix-nio logs every sync response whole at DEBUG level, message bodies included.
_VERBATIM_LOGGERS = ("nio.responses",)


def silence_verbatim_logs() -> None:
    """Keeps the libraries that log raw message bodies above DEBUG, so that no secret sent to the bot is logged."""
    for name in _VERBATIM_LOGGERS:
        logger = logging.getLogger(name)
        # Its own level, not the inherited one: a root logger set to DEBUG later must not bring them back.
        if logger.level < logging.INFO:
            logger.setLevel(logging.INFO)


def account_command(text: str, prefix: str) -> bool:
    """Whether ``text`` is ``!compte`` (or ``!account``, or ``!code``) followed by anything."""
    if not text.startswith(prefix):
        return False
    words = text.removeprefix(prefix).split(maxsplit=1)
    return len(words) == 2 and words[0].casefold() in _SECRET_COMMANDS


def _spans(text: str) -> list[tuple[int, int]]:
    """Where ``text`` holds something that looks like a secret (start, end)."""
    spans = [m.span() for m in _APP_PASSWORD.finditer(text)]
    without_urls = _URL.sub(lambda m: " " * len(m.group()), text)
    spans += [
        m.span()
        for m in _TOKEN.finditer(without_urls)
        if re.search(r"\d", m.group()) and re.search("[A-Za-z]", m.group())
    ]
    spans += [m.span("value") for m in _LABELLED.finditer(text) if not _WORD.fullmatch(m.group("value"))]
    return sorted(spans)


def looks_like_secret(text: str, prefix: str = "!") -> bool:
    """Whether a message must not stay in a shared room."""
    return account_command(text, prefix) or bool(_spans(text))


def masked(text: str, prefix: str = "!") -> str:
    """``text`` with every secret-looking part replaced, safe to log; ``!compte`` keeps only its first word."""
    if account_command(text, prefix):
        first = text.removeprefix(prefix).split(maxsplit=2)
        if first[0].casefold() in CODE_COMMAND:  # the code itself is the secret
            return f"{prefix}{first[0]} {HIDDEN}"
        return f"{prefix}{first[0]} {first[1] if len(first) > 1 else ''} {HIDDEN}".replace("  ", " ")
    out, last = [], 0
    for start, end in _spans(text):
        if start >= last:
            out += [text[last:start], HIDDEN]
            last = end
    return "".join([*out, text[last:]])


async def is_private(hub: Hub, room: MatrixRoom, bot_id: str, sender: str) -> bool:
    """A direct conversation: only the sender and the bot are in it (or invited), and no coalition is bound."""
    members = set(room.users)
    if members != {bot_id, sender} or room.member_count != 2:
        return False
    return await hub.coalitions.by_room(room.room_id) is None


async def protect(
    client: AsyncClient, messenger: Messenger, prefix: str, room_id: str, event_id: str, sender: str, lang: str
) -> bool:
    """Redacts the message and tells its sender what to do; returns whether the redaction succeeded."""
    reason = translate("bot.secret.reason", lang)
    response = await client.room_redact(room_id, event_id, reason=reason)
    removed = isinstance(response, RoomRedactResponse)
    if not removed:
        log.warning("Could not redact the secret-looking event %s in %s: %s", event_id, room_id, response)
    # A reply to the (now empty) message, so that everyone sees which one it was; clients quote nothing of it.
    messenger.post(room_id, warning(sender, lang, removed, prefix), in_reply_to=event_id)
    return removed


def warning(sender: str, lang: str, removed: bool, prefix: str) -> Reply:
    """The message to the sender: what happened, revoke the secret, send a new one in private."""
    head = "bot.secret.removed" if removed else "bot.secret.not_removed"
    return (
        Rich()
        .mention(sender)
        .text(" " + translate(head, lang))
        .line()
        .text(translate("bot.secret.revoke", lang))
        .line()
        .text(translate("bot.secret.private", lang, prefix=prefix))
        .build()
    )

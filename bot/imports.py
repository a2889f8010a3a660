"""Onboarding a coalition's towns from Matrix: a CSV or YAML file posted with ``!villes importer``, then the
officers invited to the coalition's room.

Two ways in, for one import: the coordinator answers a posted file with ``!villes importer``
(:mod:`bot.commands.towns`), or posts the file in answer to that command or to the bot's prompt
(:meth:`TownImports.file_posted`). In the coalition's room the import is for its coalition; in a direct
conversation with the bot the command names the coalition (``!villes importer Petites Villes de demain``). The hub
imports the file as ``unisson towns import`` does (all or nothing, idempotent, the coordinator's rights checked)
and the bot answers with the report, over as many messages as its size needs.

Then the officers of the coalition's towns who are neither in its room nor invited are invited in the background,
at the homeserver's pace (:mod:`bot.invitations`), with one progress message edited in place where the command
was given and, at the end, the invitations that failed and why. Nothing about a run is stored: who still needs
an invitation is worked out again, from the hub's officers and the room's members, each time. After a restart,
``!villes inviter`` (or importing the file again) goes on where the run stopped and invites nobody twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import PurePath

from bot.context import Messenger, PostedFile, Preferences
from bot.invitations import LIMIT_EXCEEDED, Failure, Homeserver, Inviter, Pace, Plan, Progress
from bot.render import Reply, Rich, Section, paginate
from hub.core import Hub
from hub.domain import permissions
from hub.domain.model import Coalition
from hub.errors import ImportRejected, InvalidInput, NotFound, UnissonError
from hub.i18n import translate
from hub.services.towns import ImportReport

log = logging.getLogger(__name__)

#: The largest town file the bot reads (1,600 towns with their sites and officers weigh about 150 KB).
MAX_FILE_BYTES = 5 * 1024 * 1024
#: The command's names, French then English, and its action words.
NAMES = ("villes", "towns")
IMPORT = ("importer", "import")
INVITE = ("inviter", "invite")
#: Extensions the hub reads, and the one to give a file whose name has none, from its stated type.
SUFFIXES = (".csv", ".txt", ".yaml", ".yml")
SUFFIX_OF_TYPE = {
    "text/csv": ".csv",
    "application/csv": ".csv",
    "text/comma-separated-values": ".csv",
    "application/yaml": ".yaml",
    "application/x-yaml": ".yaml",
    "text/yaml": ".yaml",
    "text/x-yaml": ".yaml",
}
#: Why an invitation failed, by the homeserver's error code.
REASONS = {
    "M_FORBIDDEN": "bot.towns.invite.reason.forbidden",
    "M_NOT_FOUND": "bot.towns.invite.reason.not_found",
    LIMIT_EXCEEDED: "bot.towns.invite.reason.limited",
}
_SHOWN_MESSAGE = 200
#: Seconds a run waits for the answer announcing it to be queued (:attr:`Reply.queued`) before inviting anyway.
ANNOUNCE_WAIT = 10.0

Fetch = Callable[[int], Awaitable[PostedFile]]


def command_text(action: tuple[str, str], lang: str, prefix: str) -> str:
    """``!villes inviter`` in French, ``!towns invite`` in English."""
    english = lang == "en"
    return f"{prefix}{NAMES[english]} {action[english]}"


@dataclass(frozen=True, slots=True)
class Asker:
    """Where a run reports: the room and message the request came in, in the asker's language."""

    room_id: str
    reply_to: str
    lang: str
    coalition: Coalition


class TownImports:
    """Imports files posted in answer to ``!villes importer`` and runs the officers' invitations in the background."""

    def __init__(
        self,
        hub: Hub,
        messenger: Messenger,
        homeserver: Homeserver,
        preferences: Preferences,
        prefix: str,
        pace: Pace | None = None,
    ) -> None:
        self.hub = hub
        self.messenger = messenger
        self.preferences = preferences
        self.prefix = prefix
        self.inviter = Inviter(homeserver, pace)
        #: The running invitations, by coalition; strong references, since the loop keeps only weak ones.
        self._runs: dict[int, asyncio.Task[None]] = {}
        #: Set by :meth:`close`: a request still being handled while the bot stops starts no new run.
        self._closed = False

    async def file_posted(self, room_id: str, event_id: str, sender: str, target: str, fetch: Fetch) -> None:
        """``sender`` posted file ``event_id`` in answer to ``target``: only an answer to ``!villes importer`` (or to
        the bot's answer to it) counts. ``fetch`` downloads the file, once the sender may import."""
        command = await self._import_command(room_id, target)
        if command is None:
            return
        invoked, named = command
        # As for any command: the sender's chosen language, else the one of the name they typed.
        lang = await self.preferences.language(sender) or invoked
        try:
            coalition = await find_coalition(self.hub, await self.hub.coalitions.by_room(room_id), named, self.prefix)
            await check_importer(self.hub, sender, coalition)
            pages, imported = await import_report(self.hub, sender, coalition, await fetch(MAX_FILE_BYTES), lang)
            for page in pages:
                await self.messenger.send(room_id, page, in_reply_to=event_id, to=sender)
            if imported:
                reply = await self.invite(sender, coalition, room_id, event_id, lang)
                try:
                    await self.messenger.send(room_id, reply, in_reply_to=event_id, to=sender)
                finally:
                    if reply.queued is not None:
                        reply.queued()
        except UnissonError as error:
            await self.messenger.send(room_id, Reply.text(error.message(lang)), in_reply_to=event_id, to=sender)

    async def invite(self, sender: str, coalition: Coalition, room_id: str, reply_to: str, lang: str) -> Reply:
        """Starts inviting the coalition's officers missing from its room (see :meth:`Messenger.invite_officers`)."""
        if (busy := self._busy(coalition, lang)) is not None:
            return busy
        officers = await self.hub.towns.coalition_officers(sender, coalition.id)
        if not officers:
            return Reply.text(translate("bot.towns.invite.none", lang, coalition=coalition.name, prefix=self.prefix))
        plan = await self.inviter.plan(coalition.room_id, officers)
        if not plan.invite:
            text = translate("bot.towns.invite.nobody", lang, coalition=coalition.name, present=plan.present)
            return Reply.text(text)
        # Checked again: another request may have started a run while this one read the room.
        if (busy := self._busy(coalition, lang)) is not None:
            return busy
        announced = asyncio.Event()
        self._start(plan, Asker(room_id, reply_to, lang, coalition), announced)
        duration = self._duration(len(plan.invite), lang)
        started = translate(
            "bot.towns.invite.started",
            lang,
            count=len(plan.invite),
            present=plan.present,
            coalition=coalition.name,
            duration=duration,
        )
        # The run's messages (its progress, « Terminé ») come after this answer: it starts once it is queued.
        return dataclasses.replace(Reply.text(started), queued=announced.set)

    def _busy(self, coalition: Coalition, lang: str) -> Reply | None:
        """Why no run may start for the coalition now, if one may not: one is running, or the bot is stopping."""
        again = command_text(INVITE, lang, self.prefix)
        if coalition.id in self._runs:
            return Reply.text(translate("bot.towns.invite.running", lang, coalition=coalition.name, command=again))
        if self._closed:
            return Reply.text(translate("bot.towns.invite.stopping", lang, command=again))
        return None

    async def close(self) -> None:
        """Stops the running invitations and starts no more (``!villes inviter`` resumes them after a restart)."""
        self._closed = True
        runs = list(self._runs.values())
        for task in runs:
            task.cancel()
        await asyncio.gather(*runs, return_exceptions=True)

    def _start(self, plan: Plan, asker: Asker, announced: asyncio.Event) -> None:
        coalition_id = asker.coalition.id
        run = self._run(plan, asker, announced)
        task = asyncio.create_task(run, name=f"invitations for coalition {coalition_id}")
        self._runs[coalition_id] = task
        task.add_done_callback(lambda _: self._runs.pop(coalition_id, None))

    async def _run(self, plan: Plan, asker: Asker, announced: asyncio.Event) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(announced.wait(), ANNOUNCE_WAIT)
        message = ProgressMessage(self.messenger, asker)
        try:
            progress = await self.inviter.run(plan, message.show)
            for page in failures_message(progress.failures, asker.lang, self.prefix):
                await self.messenger.send(asker.room_id, page, in_reply_to=asker.reply_to)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("Inviting the officers of coalition %s to %s failed", asker.coalition.id, plan.room_id)
            await self._tell_stopped(asker)
        finally:
            await message.close()

    async def _tell_stopped(self, asker: Asker) -> None:
        text = translate("bot.towns.invite.crashed", asker.lang, command=command_text(INVITE, asker.lang, self.prefix))
        try:
            await self.messenger.send(asker.room_id, Reply.text(text), in_reply_to=asker.reply_to)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("Could not say in %s that the invitations stopped", asker.room_id)

    def _duration(self, count: int, lang: str) -> str:
        minutes = math.ceil(count * self.inviter.pace.interval / 60)
        if minutes <= 1:
            return translate("bot.towns.invite.soon", lang)
        return translate("bot.towns.invite.minutes", lang, minutes=minutes)

    async def _import_command(self, room_id: str, target: str) -> tuple[str, str] | None:
        """``target`` as :func:`import_command` reads it, or None if it is not ``!villes importer``.

        A file may also answer the bot's notice that answered the command (its prompt for the file).
        """
        message = await self.messenger.read_message(room_id, target)
        if message is not None and message.notice and message.in_reply_to:
            message = await self.messenger.read_message(room_id, message.in_reply_to)
        if message is None or message.notice:
            return None
        return import_command(message.body, self.prefix)


class ProgressMessage:
    """One message showing a run's progress, edited in place. Sending it never holds up the invitations: while
    one version is on its way, newer ones are skipped (a later one shows more); the final one always goes."""

    def __init__(self, messenger: Messenger, asker: Asker) -> None:
        self.messenger = messenger
        self.asker = asker
        self._event_id: str | None = None
        self._sending: asyncio.Task[None] | None = None

    async def show(self, progress: Progress) -> None:
        reply = progress_reply(progress, self.asker.coalition, self.asker.lang)
        if progress.finished:
            if self._sending is not None:
                await asyncio.gather(self._sending, return_exceptions=True)
            await self._put(reply)
        elif self._sending is None or self._sending.done():
            self._sending = asyncio.create_task(self._put(reply), name=f"progress in {self.asker.room_id}")

    async def close(self) -> None:
        if self._sending is not None and not self._sending.done():
            self._sending.cancel()
            await asyncio.gather(self._sending, return_exceptions=True)

    async def _put(self, reply: Reply) -> None:
        where = self.asker.room_id
        try:
            if self._event_id is None:
                self._event_id = await self.messenger.send(where, reply, in_reply_to=self.asker.reply_to)
            else:
                await self.messenger.edit(where, self._event_id, reply)
        except asyncio.CancelledError:
            raise
        except Exception:
            # A lost progress message must not stop the invitations.
            log.exception("Could not show the invitations' progress in %s", where)


def import_command(body: str, prefix: str) -> tuple[str, str] | None:
    """The language of the command's name and the coalition it names: ``"!villes importer PVD"`` → ``("fr",
    "PVD")``, ``"!towns import"`` → ``("en", "")``; None for any other message.

    The command is the first line starting with the prefix (a reply may begin with the quoted message).
    """
    line = next((line for line in body.splitlines() if line.startswith(prefix)), "")
    name, action, rest = [*line.removeprefix(prefix).split(maxsplit=2), "", ""][:3]
    if name.casefold() not in NAMES or action.casefold() not in IMPORT:
        return None
    return ("en" if name.casefold() == NAMES[1] else "fr"), rest.strip()


async def find_coalition(hub: Hub, here: Coalition | None, named: str, prefix: str) -> Coalition:
    """The coalition ``named`` (its name, number or room id), else the room's; a direct conversation must name it."""
    if named:
        for summary in await hub.coalitions.list():
            coalition = summary.coalition
            if named.casefold() in (coalition.name.casefold(), str(coalition.id), coalition.room_id.casefold()):
                return coalition
        raise NotFound("bot.towns.coalition.unknown", name=named)
    if here is None:
        raise InvalidInput("bot.towns.coalition.name_it", command=f"{prefix}{NAMES[0]} {IMPORT[0]}")
    return here


async def check_importer(hub: Hub, sender: str, coalition: Coalition) -> None:
    """Refuses, before anything is downloaded, someone who may not import into the coalition (the hub checks
    again when it imports)."""
    permissions.require_coordinator(await hub.whois(sender), coalition.id, coalition.name)


async def import_report(
    hub: Hub, sender: str, coalition: Coalition, posted: PostedFile, lang: str
) -> tuple[list[Reply], bool]:
    """Imports ``posted`` into the coalition; the report's messages, and whether anything was imported."""
    name = importable_name(posted)
    try:
        report = await hub.towns.import_data(sender, name, posted.data, coalition.id)
    except ImportRejected as rejected:
        return rejection_message(rejected, name, lang), False
    return report_message(report, name, coalition, lang), True


def importable_name(posted: PostedFile) -> str:
    """The file's name, with the extension its stated type implies if it has none the hub reads."""
    suffix = PurePath(posted.name).suffix.lower()
    if suffix in SUFFIXES:
        return posted.name
    implied = SUFFIX_OF_TYPE.get(posted.mimetype.split(";")[0].strip().lower())
    if implied is None or suffix:
        raise InvalidInput("bot.file.format", file=posted.name or "?")
    return posted.name + implied


def report_message(report: ImportReport, name: str, coalition: Coalition, lang: str) -> list[Reply]:
    """The counts, then the towns whose details changed (each with its line in the file)."""
    head = Rich().strong(
        translate(
            "bot.towns.import.summary",
            lang,
            file=name,
            coalition=coalition.name,
            created=len(report.created),
            updated=len(report.updated),
            unchanged=len(report.unchanged),
            officers=report.officers_added,
            members=report.members_added,
        )
    )
    items = [Rich().text(translate("bot.towns.import.line", lang, line=n, name=town)) for n, town in report.updated]
    section = Section(translate("bot.towns.import.updated", lang), items)
    return paginate(head, [section], lambda: Rich().strong(translate("bot.towns.import.continued", lang, file=name)))


def rejection_message(rejected: ImportRejected, name: str, lang: str) -> list[Reply]:
    """Nothing imported: every bad line with its problem, over as many messages as needed."""
    head = Rich().strong(translate(rejected.message_key, lang, **rejected.params))
    items = [Rich().text(problem.message(lang)) for problem in rejected.problems]
    section = Section(translate("bot.towns.import.lines", lang), items)
    return paginate(head, [section], lambda: Rich().strong(translate("bot.towns.import.continued", lang, file=name)))


def progress_reply(progress: Progress, coalition: Coalition, lang: str) -> Reply:
    """``312/1 600 invitations envoyées…``, then, at the end, how it went."""
    key = "bot.towns.invite.done" if progress.finished else "bot.towns.invite.progress"
    text = translate(key, lang, sent=progress.sent, total=progress.total, coalition=coalition.name)
    if progress.failures:
        failed = "bot.towns.invite.done.failed" if progress.finished else "bot.towns.invite.progress.failed"
        text += " " + translate(failed, lang, failed=len(progress.failures))
    return Reply.text(text)


def failures_message(failures: list[Failure], lang: str, prefix: str) -> list[Reply]:
    """The people who could not be invited, each with the homeserver's reason; no message if there are none."""
    if not failures:
        return []
    head = Rich().strong(translate("bot.towns.invite.failures", lang, count=len(failures)))
    items = [Rich().code(f.user_id).text(" — " + failure_reason(f, lang, prefix)) for f in failures]
    section = Section(translate("bot.towns.invite.failures.people", lang), items)
    return paginate(head, [section], lambda: Rich().strong(translate("bot.towns.invite.failures.continued", lang)))


def failure_reason(failure: Failure, lang: str, prefix: str) -> str:
    refusal = failure.refusal
    key = REASONS.get(refusal.errcode, "bot.towns.invite.reason.other")
    message = refusal.message[:_SHOWN_MESSAGE]
    return translate(key, lang, errcode=refusal.errcode, message=message, command=command_text(INVITE, lang, prefix))

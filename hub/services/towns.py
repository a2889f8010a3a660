"""Towns: bulk import, officers, profile fields, and erasure of a town's personal data."""

from __future__ import annotations

import asyncio
import builtins
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from hub.domain import permissions
from hub.domain.identifiers import (
    check_matrix_user_id,
    check_web_url,
    normalize_bluesky_handle,
    normalize_mastodon_handle,
)
from hub.domain.model import PROFILE_FIELDS, Role, Town, TownKind
from hub.errors import ImportRejected, InvalidInput, NotFound, PermissionDenied, UnissonError
from hub.services import revocation
from hub.services.coalitions import get_coalition, get_town
from hub.services.context import ServiceContext
from hub.services.preferences import forget_preferences
from hub.services.town_import import ImportRow, RowProblem, parse_row, read_rows
from hub.store import UnitOfWork
from hub.store.repositories import TownValues

ERASED = "[effacé]"


@dataclass
class ImportReport:
    """What an import did, row by row (line number, town name)."""

    created: list[tuple[int, str]] = field(default_factory=list)
    updated: list[tuple[int, str]] = field(default_factory=list)
    unchanged: list[tuple[int, str]] = field(default_factory=list)
    officers_added: int = 0
    members_added: int = 0


def _plain_name(name: str) -> str:
    """A file name that stays inside its folder: ``../../x.csv`` → ``x.csv``."""
    plain = Path(name.replace("\\", "/")).name.strip()
    return plain if plain not in ("", ".", "..") else "villes"


class TownService:
    def __init__(self, context: ServiceContext) -> None:
        self.context = context

    async def import_file(self, actor_id: str, path: Path, coalition_id: int | None = None) -> ImportReport:
        """Upserts every town of a CSV or YAML file, keyed by official code (or name), all or nothing.

        Raises :class:`ImportRejected` listing every bad row with its line; then nothing is stored.
        """
        rows, problems = await asyncio.to_thread(self._parse, path)
        if problems:
            raise ImportRejected(problems=problems, file=path.name)
        async with self.context.store.unit() as uow:
            actor = await self.context.actor(uow, actor_id)
            if coalition_id is None:
                permissions.require_admin(actor)
            else:
                coalition = await get_coalition(uow, coalition_id)
                permissions.require_coordinator(actor, coalition.id, coalition.name)
            report = await self._upsert(uow, rows)
            stored = await uow.towns.existing((r.values.kind, r.values.natural_key) for r in rows)
            for row in rows:
                town = stored[(row.values.kind, row.values.natural_key)]
                for officer in row.officers:
                    report.officers_added += await uow.roles.grant(officer, Role.OFFICER, by=actor_id, town_id=town.id)
            if coalition_id is not None:
                report.members_added = await uow.towns.add_members(coalition_id, (t.id for t in stored.values()))
            await uow.audit.append(
                actor_id,
                "town.import",
                coalition_id=coalition_id,
                details={
                    "file": path.name,
                    "created": len(report.created),
                    "updated": len(report.updated),
                    "unchanged": len(report.unchanged),
                    "officers_added": report.officers_added,
                },
            )
            return report

    async def import_data(self, actor_id: str, name: str, data: bytes, coalition_id: int | None = None) -> ImportReport:
        """:meth:`import_file` on the bytes of a file called ``name`` (a file posted in a chat room).

        The bytes are read exactly as the command line reads a file: through a private temporary copy named
        like the original (its extension says CSV or YAML; its name appears in the report).
        """
        folder = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="unisson-import-"))
        try:
            path = folder / _plain_name(name)
            await asyncio.to_thread(path.write_bytes, data)
            return await self.import_file(actor_id, path, coalition_id)
        finally:
            await asyncio.to_thread(shutil.rmtree, folder, True)

    async def coalition_officers(self, actor_id: str, coalition_id: int) -> builtins.list[str]:
        """The Matrix ids of the officers of every member town, sorted, each once (the coalition's coordinators
        and the admins may read them: it is whom they invite to the coalition's room)."""
        async with self.context.store.unit() as uow:
            coalition = await get_coalition(uow, coalition_id)
            permissions.require_coordinator(await self.context.actor(uow, actor_id), coalition.id, coalition.name)
            towns = await uow.towns.list(coalition.id)
            by_town = await uow.roles.officers_by_town(t.id for t in towns)
        return sorted({officer for officers in by_town.values() for officer in officers})

    def _parse(self, path: Path) -> tuple[list[ImportRow], list[UnissonError]]:
        rows: list[ImportRow] = []
        problems: list[UnissonError] = []
        first_line: dict[tuple[TownKind, str], int] = {}
        for line, raw in read_rows(path):
            try:
                row = parse_row(line, raw, self.context.settings.default_timezone)
            except RowProblem as problem:
                problems.append(problem)
                continue
            key = (row.values.kind, row.values.natural_key)
            if key in first_line:
                duplicate = InvalidInput("error.import.duplicate", name=row.values.name, first=first_line[key])
                problems.append(RowProblem(line, duplicate))
                continue
            first_line[key] = line
            rows.append(row)
        if not rows and not problems:
            raise InvalidInput("error.import.empty", file=path.name)
        return rows, problems

    async def _upsert(self, uow: UnitOfWork, rows: list[ImportRow]) -> ImportReport:
        report = ImportReport()
        existing = await uow.towns.existing((r.values.kind, r.values.natural_key) for r in rows)
        inserts: list[TownValues] = []
        updates: list[tuple[int, TownValues]] = []
        for row in rows:
            town = existing.get((row.values.kind, row.values.natural_key))
            if town is None:
                inserts.append(row.values)
                report.created.append((row.line, row.values.name))
                continue
            merged = TownValues(
                row.values.kind,
                row.values.code,
                row.values.name,
                row.values.timezone,
                {**town.profile, **row.values.profile},
            )
            if (town.name, town.timezone, town.profile) == (merged.name, merged.timezone, merged.profile):
                report.unchanged.append((row.line, town.name))
            else:
                updates.append((town.id, merged))
                report.updated.append((row.line, merged.name))
        await uow.towns.insert_many(inserts)
        await uow.towns.update_many(updates)
        return report

    async def list(self, coalition_id: int | None = None) -> list[Town]:
        async with self.context.store.unit() as uow:
            return await uow.towns.list(coalition_id)

    async def find(self, text: str, coalition_id: int | None = None) -> Town:
        """The one town whose code or name is ``text`` (within a coalition if given)."""
        async with self.context.store.unit() as uow:
            found = await uow.towns.find(text, coalition_id)
        if not found:
            raise NotFound("error.town.not_found", text=text)
        if len(found) > 1:
            choices = ", ".join(f"{t.name} ({t.code or t.kind.value})" for t in found)
            raise InvalidInput("error.town.ambiguous", text=text, choices=choices)
        return found[0]

    async def appoint_officer(self, actor_id: str, town_id: int, user_id: str) -> bool:
        """Makes ``user_id`` an officer of the town; by a coordinator of a coalition the town belongs to."""
        check_matrix_user_id(user_id)
        async with self.context.store.unit() as uow:
            town = await get_town(uow, town_id)
            await self._require_town_coordinator(uow, actor_id, town)
            added = await uow.roles.grant(user_id, Role.OFFICER, by=actor_id, town_id=town.id)
            if added:
                await uow.audit.append(actor_id, "officer.appoint", town_id=town.id, details={"user": user_id})
            return added

    async def remove_officer(self, actor_id: str, town_id: int, user_id: str) -> bool:
        async with self.context.store.unit() as uow:
            town = await get_town(uow, town_id)
            await self._require_town_coordinator(uow, actor_id, town)
            removed = await uow.roles.revoke(user_id, Role.OFFICER, town_id=town.id)
            if removed:
                await uow.audit.append(actor_id, "officer.remove", town_id=town.id, details={"user": user_id})
            return removed

    async def officers(self, town_id: int) -> builtins.list[str]:
        async with self.context.store.unit() as uow:
            return await uow.roles.holders(Role.OFFICER, town_id=town_id)

    async def set_profile(self, actor_id: str, town_id: int, name: str, value: str) -> Town:
        """Sets (or clears, with an empty value) a profile field used by templates."""
        if name not in PROFILE_FIELDS:
            raise InvalidInput("error.town.profile_field", field=name, allowed=", ".join(PROFILE_FIELDS))
        checks = {
            "website": check_web_url,
            "newsletter": check_web_url,
            "bluesky": normalize_bluesky_handle,
            "mastodon": normalize_mastodon_handle,
        }
        cleaned = checks[name](value) if value.strip() else ""
        async with self.context.store.unit() as uow:
            town = await get_town(uow, town_id)
            actor = await self.context.actor(uow, actor_id)
            if not permissions.can_speak_for(actor, town.id):
                await self._require_town_coordinator(uow, actor_id, town)
            profile = {k: v for k, v in {**town.profile, name: cleaned}.items() if v}
            await uow.towns.update_profile(town.id, profile)
            await uow.audit.append(actor_id, "town.profile", town_id=town.id, details={"field": name})
            return Town(town.id, town.kind, town.code, town.name, town.timezone, profile)

    async def erase(self, actor_id: str, town_id: int, *, remove: bool = False) -> None:
        """Erases a town's credentials and personal data (GDPR); ``remove`` also deletes the town itself.

        Accounts and their secrets are deleted, officers lose their role (and, left with no role, their
        preferences), profile fields are cleared, sign-ons keep their decision but not who made it, the
        reactions that signed or declined for the town are forgotten (who reacted, and which event), and audit
        entries about the town no longer name the people who acted. OAuth tokens are revoked at their server
        first; one that cannot be revoked (server down) is still forgotten, and the audit entry says so.
        """
        async with self.context.store.unit() as uow:
            town = await get_town(uow, town_id)
            permissions.require_admin(await self.context.actor(uow, actor_id))
            tokens = await revocation.revocable(uow, await uow.accounts.of_town(town.id))
        unrevoked = await revocation.revoke(self.context, tokens)
        async with self.context.store.unit() as uow:
            accounts = await uow.accounts.delete_for_town(town.id)
            officers = await uow.roles.delete_for_town(town.id)
            for officer in officers:
                if not (await self.context.actor(uow, officer)).holds_any_role:
                    await forget_preferences(uow, officer, ERASED)
            await uow.towns.update_profile(town.id, {})
            await uow.signons.erase_for_town(town.id)
            # A reaction's record names who reacted; without it, a later redaction of that reaction changes
            # nothing, which is what an erased sign-on needs: its decision stands, made by no one.
            await uow.messages.remove_for_town(town.id)
            await uow.audit.pseudonymise_town(town.id, ERASED)
            if remove:
                await uow.towns.delete(town.id)
            await uow.audit.append(
                actor_id,
                "town.erase",
                town_id=town.id,
                details={
                    "accounts": accounts,
                    "officers": len(officers),
                    "removed": remove,
                    "revoked": len(tokens) - len(unrevoked),
                    "not_revoked": len(unrevoked),
                },
            )

    async def _require_town_coordinator(self, uow: UnitOfWork, actor_id: str, town: Town) -> None:
        actor = await self.context.actor(uow, actor_id)
        coalitions = await uow.towns.coalitions_of(town.id)
        if actor.is_admin or any(permissions.can_coordinate(actor, c) for c in coalitions):
            return
        raise PermissionDenied("error.permission.town_coordinator", town=town.name)

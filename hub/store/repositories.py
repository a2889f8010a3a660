"""Repositories: the only code that queries the database. They take and return domain values."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hub.domain.model import (
    Account,
    Announcement,
    AnnouncementMessage,
    AnnouncementState,
    AuditEntry,
    Coalition,
    Delivery,
    DeliveryState,
    Failure,
    ImageRef,
    Platform,
    Role,
    SignOn,
    SignOnState,
    SignOnSummary,
    Town,
    TownKind,
    Version,
    Wording,
)
from hub.store.models import (
    AccountRow,
    AnnouncementMessageRow,
    AnnouncementRow,
    AuditRow,
    CoalitionRow,
    CoalitionTownRow,
    DeliveryRow,
    MediaRow,
    ProcessedEventRow,
    RoleGrantRow,
    SignOnRow,
    TownRow,
    UserPreferenceRow,
    VersionRow,
)


def _now() -> datetime:
    return datetime.now(UTC)


class _Repository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session


# --- coalitions -------------------------------------------------------------------------------------------


def _coalition(row: CoalitionRow) -> Coalition:
    return Coalition(id=row.id, name=row.name, room_id=row.room_id, language=row.language)


class CoalitionRepository(_Repository):
    async def add(self, name: str, room_id: str, language: str) -> Coalition:
        row = CoalitionRow(name=name, room_id=room_id, language=language)
        self.session.add(row)
        await self.session.flush()
        return _coalition(row)

    async def get(self, coalition_id: int) -> Coalition | None:
        row = await self.session.get(CoalitionRow, coalition_id)
        return _coalition(row) if row else None

    async def set_language(self, coalition_id: int, language: str) -> None:
        await self.session.execute(
            sa.update(CoalitionRow).where(CoalitionRow.id == coalition_id).values(language=language)
        )

    async def by_room(self, room_id: str) -> Coalition | None:
        row = await self.session.scalar(sa.select(CoalitionRow).where(CoalitionRow.room_id == room_id))
        return _coalition(row) if row else None

    async def by_name(self, name: str) -> Coalition | None:
        query = sa.select(CoalitionRow).where(sa.func.lower(CoalitionRow.name) == name.lower())
        row = await self.session.scalar(query)
        return _coalition(row) if row else None

    async def list(self) -> list[Coalition]:
        rows = await self.session.scalars(sa.select(CoalitionRow).order_by(CoalitionRow.name))
        return [_coalition(row) for row in rows]

    async def member_counts(self) -> dict[int, int]:
        query = sa.select(CoalitionTownRow.coalition_id, sa.func.count()).group_by(CoalitionTownRow.coalition_id)
        return {cid: count for cid, count in (await self.session.execute(query)).tuples()}


# --- towns ------------------------------------------------------------------------------------------------


def _town(row: TownRow) -> Town:
    return Town(
        id=row.id,
        kind=TownKind(row.kind),
        code=row.code,
        name=row.name,
        timezone=row.timezone,
        profile=dict(row.profile or {}),
    )


@dataclass(frozen=True, slots=True)
class TownValues:
    """What an import or a command says of a town, before it is stored."""

    kind: TownKind
    code: str | None
    name: str
    timezone: str
    profile: dict[str, str]

    @property
    def natural_key(self) -> str:
        return self.code if self.code else self.name.casefold()


class TownRepository(_Repository):
    async def get(self, town_id: int) -> Town | None:
        row = await self.session.get(TownRow, town_id)
        return _town(row) if row else None

    async def by_key(self, kind: TownKind, natural_key: str) -> Town | None:
        query = sa.select(TownRow).where(TownRow.kind == kind.value, TownRow.natural_key == natural_key)
        row = await self.session.scalar(query)
        return _town(row) if row else None

    async def find(self, text: str, coalition_id: int | None = None) -> list[Town]:
        """Towns whose code equals ``text`` or whose name matches it, case-insensitively."""
        wanted = text.strip()
        query = sa.select(TownRow).where(
            sa.or_(TownRow.code == wanted.upper(), sa.func.lower(TownRow.name) == wanted.lower())
        )
        if coalition_id is not None:
            query = query.join(CoalitionTownRow, CoalitionTownRow.town_id == TownRow.id).where(
                CoalitionTownRow.coalition_id == coalition_id
            )
        return [_town(row) for row in await self.session.scalars(query.order_by(TownRow.id))]

    async def list(self, coalition_id: int | None = None) -> list[Town]:
        query = sa.select(TownRow).order_by(TownRow.name, TownRow.id)
        if coalition_id is not None:
            query = query.join(CoalitionTownRow, CoalitionTownRow.town_id == TownRow.id).where(
                CoalitionTownRow.coalition_id == coalition_id
            )
        return [_town(row) for row in await self.session.scalars(query)]

    async def existing(self, keys: Iterable[tuple[TownKind, str]]) -> dict[tuple[TownKind, str], Town]:
        """The stored towns among ``keys``, by (kind, natural key)."""
        wanted = set(keys)
        found: dict[tuple[TownKind, str], Town] = {}
        by_kind: dict[TownKind, builtins.list[str]] = {}
        for kind, key in wanted:
            by_kind.setdefault(kind, []).append(key)
        for kind, natural_keys in by_kind.items():
            for start in range(0, len(natural_keys), 500):
                chunk = natural_keys[start : start + 500]
                query = sa.select(TownRow).where(TownRow.kind == kind.value, TownRow.natural_key.in_(chunk))
                for row in await self.session.scalars(query):
                    found[(kind, row.natural_key)] = _town(row)
        return found

    async def insert_many(self, values: Sequence[TownValues]) -> None:
        if not values:
            return
        now = _now()
        rows = [
            {
                "kind": v.kind.value,
                "code": v.code,
                "natural_key": v.natural_key,
                "name": v.name,
                "timezone": v.timezone,
                "profile": v.profile,
                "created_at": now,
                "updated_at": now,
            }
            for v in values
        ]
        await self.session.execute(sa.insert(TownRow), rows)

    async def update_many(self, changes: Sequence[tuple[int, TownValues]]) -> None:
        if not changes:
            return
        now = _now()
        rows = [
            {"id": town_id, "name": v.name, "timezone": v.timezone, "profile": v.profile, "updated_at": now}
            for town_id, v in changes
        ]
        await self.session.execute(sa.update(TownRow), rows)

    async def update_profile(self, town_id: int, profile: dict[str, str]) -> None:
        await self.session.execute(
            sa.update(TownRow).where(TownRow.id == town_id).values(profile=profile, updated_at=_now())
        )

    async def members(self, coalition_id: int, among: Iterable[int] | None = None) -> set[int]:
        """The coalition's member towns (only those ``among`` the ids given, if any: one indexed read)."""
        query = sa.select(CoalitionTownRow.town_id).where(CoalitionTownRow.coalition_id == coalition_id)
        if among is not None:
            query = query.where(CoalitionTownRow.town_id.in_(list(among)))
        return set(await self.session.scalars(query))

    async def add_members(self, coalition_id: int, town_ids: Iterable[int]) -> int:
        """Adds the towns not yet members; returns how many were added."""
        new = set(town_ids) - await self.members(coalition_id)
        if new:
            now = _now()
            await self.session.execute(
                sa.insert(CoalitionTownRow),
                [{"coalition_id": coalition_id, "town_id": t, "joined_at": now} for t in sorted(new)],
            )
        return len(new)

    async def remove_member(self, coalition_id: int, town_id: int) -> bool:
        result = await self.session.execute(
            sa.delete(CoalitionTownRow).where(
                CoalitionTownRow.coalition_id == coalition_id, CoalitionTownRow.town_id == town_id
            )
        )
        return bool(getattr(result, "rowcount", 0))

    async def coalitions_of(self, town_id: int) -> builtins.list[int]:
        query = sa.select(CoalitionTownRow.coalition_id).where(CoalitionTownRow.town_id == town_id)
        return list(await self.session.scalars(query))

    async def delete(self, town_id: int) -> None:
        await self.session.execute(sa.delete(TownRow).where(TownRow.id == town_id))


# --- roles ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Grant:
    user_id: str
    role: Role
    coalition_id: int | None
    town_id: int | None


def _scope(coalition_id: int | None, town_id: int | None) -> str:
    return f"coalition:{coalition_id}" if coalition_id is not None else f"town:{town_id}"


class RoleRepository(_Repository):
    async def grant(
        self,
        user_id: str,
        role: Role,
        *,
        by: str,
        coalition_id: int | None = None,
        town_id: int | None = None,
    ) -> bool:
        """Grants a role; returns False when the user already had it."""
        scope = _scope(coalition_id, town_id)
        query = sa.select(RoleGrantRow.id).where(
            RoleGrantRow.user_id == user_id, RoleGrantRow.role == role.value, RoleGrantRow.scope == scope
        )
        if await self.session.scalar(query) is not None:
            return False
        self.session.add(
            RoleGrantRow(
                user_id=user_id,
                role=role.value,
                scope=scope,
                coalition_id=coalition_id,
                town_id=town_id,
                granted_by=by,
            )
        )
        await self.session.flush()
        return True

    async def revoke(
        self, user_id: str, role: Role, *, coalition_id: int | None = None, town_id: int | None = None
    ) -> bool:
        result = await self.session.execute(
            sa.delete(RoleGrantRow).where(
                RoleGrantRow.user_id == user_id,
                RoleGrantRow.role == role.value,
                RoleGrantRow.scope == _scope(coalition_id, town_id),
            )
        )
        return bool(getattr(result, "rowcount", 0))

    async def of_user(self, user_id: str) -> list[Grant]:
        rows = await self.session.scalars(sa.select(RoleGrantRow).where(RoleGrantRow.user_id == user_id))
        return [Grant(r.user_id, Role(r.role), r.coalition_id, r.town_id) for r in rows]

    async def holders(self, role: Role, *, coalition_id: int | None = None, town_id: int | None = None) -> list[str]:
        query = (
            sa.select(RoleGrantRow.user_id)
            .where(RoleGrantRow.role == role.value, RoleGrantRow.scope == _scope(coalition_id, town_id))
            .order_by(RoleGrantRow.user_id)
        )
        return list(await self.session.scalars(query))

    async def officers_by_town(self, town_ids: Iterable[int]) -> dict[int, list[str]]:
        wanted = list(town_ids)
        found: dict[int, list[str]] = {}
        for start in range(0, len(wanted), 500):
            query = (
                sa.select(RoleGrantRow.town_id, RoleGrantRow.user_id)
                .where(RoleGrantRow.role == Role.OFFICER.value)
                .where(RoleGrantRow.town_id.in_(wanted[start : start + 500]))
                .order_by(RoleGrantRow.user_id)
            )
            for town_id, user_id in (await self.session.execute(query)).tuples():
                if town_id is not None:
                    found.setdefault(town_id, []).append(user_id)
        return found

    async def delete_for_town(self, town_id: int) -> list[str]:
        users = await self.holders(Role.OFFICER, town_id=town_id)
        await self.session.execute(sa.delete(RoleGrantRow).where(RoleGrantRow.town_id == town_id))
        return users


# --- accounts ---------------------------------------------------------------------------------------------


def _account(row: AccountRow) -> Account:
    return Account(
        id=row.id,
        town_id=row.town_id,
        platform=Platform(row.platform),
        identifier=row.identifier,
        server=row.server,
        limits=dict(row.limits or {}),
        last_verified_at=row.last_verified_at,
        last_error=row.last_error,
    )


@dataclass(frozen=True, slots=True)
class EncryptedSecrets:
    account_id: int
    secret: bytes
    session: bytes | None


class AccountRepository(_Repository):
    async def upsert(self, town_id: int, platform: Platform, identifier: str, server: str, secret: bytes) -> Account:
        """Links (or re-links) the town's account on ``platform``; a re-link forgets the old session."""
        query = sa.select(AccountRow).where(AccountRow.town_id == town_id, AccountRow.platform == platform)
        row = await self.session.scalar(query)
        if row is None:
            row = AccountRow(town_id=town_id, platform=platform.value, limits={})
            self.session.add(row)
        row.identifier, row.server, row.secret, row.session = identifier, server, secret, None
        row.last_verified_at, row.last_error, row.updated_at = None, None, _now()
        await self.session.flush()
        return _account(row)

    async def get(self, account_id: int) -> Account | None:
        row = await self.session.get(AccountRow, account_id)
        return _account(row) if row else None

    async def many(self, account_ids: Iterable[int]) -> dict[int, Account]:
        query = sa.select(AccountRow).where(AccountRow.id.in_(list(account_ids)))
        return {row.id: _account(row) for row in await self.session.scalars(query)}

    async def of_town(self, town_id: int) -> list[Account]:
        query = sa.select(AccountRow).where(AccountRow.town_id == town_id).order_by(AccountRow.platform)
        return [_account(row) for row in await self.session.scalars(query)]

    async def of_towns(self, town_ids: Iterable[int]) -> dict[int, list[Account]]:
        wanted = list(town_ids)
        found: dict[int, list[Account]] = {}
        for start in range(0, len(wanted), 500):
            query = (
                sa.select(AccountRow)
                .where(AccountRow.town_id.in_(wanted[start : start + 500]))
                .order_by(AccountRow.platform)
            )
            for row in await self.session.scalars(query):
                found.setdefault(row.town_id, []).append(_account(row))
        return found

    async def list(self) -> list[Account]:
        query = sa.select(AccountRow).order_by(AccountRow.town_id, AccountRow.platform)
        return [_account(row) for row in await self.session.scalars(query)]

    async def secrets(self, account_id: int) -> EncryptedSecrets | None:
        row = await self.session.get(AccountRow, account_id)
        return EncryptedSecrets(row.id, row.secret, row.session) if row else None

    async def secrets_of(self, account_ids: Iterable[int]) -> builtins.list[EncryptedSecrets]:
        query = sa.select(AccountRow.id, AccountRow.secret, AccountRow.session).where(
            AccountRow.id.in_(list(account_ids))
        )
        return [EncryptedSecrets(i, secret, session) for i, secret, session in (await self.session.execute(query))]

    async def all_secrets(self) -> builtins.list[EncryptedSecrets]:
        rows = await self.session.scalars(sa.select(AccountRow).order_by(AccountRow.id))
        return [EncryptedSecrets(row.id, row.secret, row.session) for row in rows]

    async def store_secrets(self, secrets: EncryptedSecrets) -> None:
        await self.session.execute(
            sa.update(AccountRow)
            .where(AccountRow.id == secrets.account_id)
            .values(secret=secrets.secret, session=secrets.session)
        )

    async def record_health(self, account_id: int, *, error: str | None, limits: dict[str, Any] | None = None) -> None:
        values: dict[str, Any] = {"last_error": error, "updated_at": _now()}
        if error is None:
            values["last_verified_at"] = _now()
        if limits is not None:
            values["limits"] = limits
        await self.session.execute(sa.update(AccountRow).where(AccountRow.id == account_id).values(**values))

    async def delete_for_town(self, town_id: int) -> int:
        result = await self.session.execute(sa.delete(AccountRow).where(AccountRow.town_id == town_id))
        return int(getattr(result, "rowcount", 0))


# --- media ------------------------------------------------------------------------------------------------


class MediaRepository(_Repository):
    async def put(self, image: ImageRef, data: bytes) -> None:
        if await self.session.get(MediaRow, image.sha256) is None:
            self.session.add(
                MediaRow(
                    sha256=image.sha256,
                    mime=image.mime,
                    width=image.width,
                    height=image.height,
                    size=image.size,
                    data=data,
                )
            )
            await self.session.flush()

    async def data(self, sha256: str) -> bytes | None:
        row = await self.session.get(MediaRow, sha256)
        return row.data if row else None

    async def ref(self, sha256: str, alt: str) -> ImageRef | None:
        """The stored image ``sha256`` described by ``alt``, without reading its bytes."""
        query = sa.select(MediaRow.mime, MediaRow.width, MediaRow.height, MediaRow.size).where(
            MediaRow.sha256 == sha256
        )
        found = (await self.session.execute(query)).first()
        if found is None:
            return None
        mime, width, height, size = found
        return ImageRef(sha256, alt, mime, width, height, size)


# --- announcements ----------------------------------------------------------------------------------------


def _wording(row: VersionRow) -> Wording:
    return Wording(
        text=row.text,
        variants={Platform(k): v for k, v in (row.variants or {}).items()},
        images=tuple(ImageRef(**image) for image in (row.images or [])),
    )


def _version(row: VersionRow) -> Version:
    return Version(
        id=row.id,
        announcement_id=row.announcement_id,
        number=row.number,
        wording=_wording(row),
        content_hash=row.content_hash,
        created_by=row.created_by,
        created_at=row.created_at,
    )


class AnnouncementRepository(_Repository):
    async def create(
        self,
        coalition_id: int,
        title: str,
        *,
        language: str,
        timezone: str,
        allow_overrides: bool,
        created_by: str,
    ) -> int:
        row = AnnouncementRow(
            coalition_id=coalition_id,
            title=title,
            state=AnnouncementState.DRAFT.value,
            language=language,
            timezone=timezone,
            allow_overrides=allow_overrides,
            created_by=created_by,
        )
        self.session.add(row)
        await self.session.flush()
        return row.id

    async def add_version(self, announcement_id: int, wording: Wording, content_hash: str, created_by: str) -> Version:
        number = await self.session.scalar(
            sa.select(sa.func.coalesce(sa.func.max(VersionRow.number), 0)).where(
                VersionRow.announcement_id == announcement_id
            )
        )
        row = VersionRow(
            announcement_id=announcement_id,
            number=int(number or 0) + 1,
            text=wording.text,
            variants={p.value: t for p, t in wording.variants.items()},
            images=[
                {
                    "sha256": i.sha256,
                    "alt": i.alt,
                    "mime": i.mime,
                    "width": i.width,
                    "height": i.height,
                    "size": i.size,
                }
                for i in wording.images
            ],
            content_hash=content_hash,
            created_by=created_by,
        )
        self.session.add(row)
        await self.session.flush()
        await self.update(announcement_id, current_version=row.number)
        return _version(row)

    async def get(self, announcement_id: int, *, for_update: bool = False) -> Announcement | None:
        query = sa.select(AnnouncementRow).where(AnnouncementRow.id == announcement_id)
        if for_update:
            query = query.with_for_update()
        row = await self.session.scalar(query)
        return await self._announcement(row) if row else None

    async def list(
        self, coalition_id: int | None = None, states: Iterable[AnnouncementState] | None = None
    ) -> builtins.list[Announcement]:
        query = sa.select(AnnouncementRow).order_by(AnnouncementRow.id)
        if coalition_id is not None:
            query = query.where(AnnouncementRow.coalition_id == coalition_id)
        if states is not None:
            query = query.where(AnnouncementRow.state.in_([s.value for s in states]))
        return [await self._announcement(row) for row in await self.session.scalars(query)]

    async def update(self, announcement_id: int, **values: Any) -> None:
        values = {k: (v.value if isinstance(v, AnnouncementState) else v) for k, v in values.items()}
        await self.session.execute(
            sa.update(AnnouncementRow).where(AnnouncementRow.id == announcement_id).values(updated_at=_now(), **values)
        )

    async def versions(self, announcement_id: int) -> builtins.list[Version]:
        query = sa.select(VersionRow).where(VersionRow.announcement_id == announcement_id).order_by(VersionRow.number)
        return [_version(row) for row in await self.session.scalars(query)]

    async def _announcement(self, row: AnnouncementRow) -> Announcement:
        version = None
        if row.current_version is not None:
            version_row = await self.session.scalar(
                sa.select(VersionRow).where(
                    VersionRow.announcement_id == row.id, VersionRow.number == row.current_version
                )
            )
            version = _version(version_row) if version_row else None
        return Announcement(
            id=row.id,
            coalition_id=row.coalition_id,
            title=row.title,
            state=AnnouncementState(row.state),
            language=row.language,
            allow_overrides=row.allow_overrides,
            created_by=row.created_by,
            created_at=row.created_at,
            current_version=version,
            deadline=row.deadline,
            publish_at=row.publish_at,
            timezone=row.timezone,
        )


# --- sign-ons ---------------------------------------------------------------------------------------------


class SignOnRepository(_Repository):
    async def rows(self, announcement_id: int) -> dict[int, SignOnRow]:
        query = sa.select(SignOnRow).where(SignOnRow.announcement_id == announcement_id)
        return {row.town_id: row for row in await self.session.scalars(query)}

    async def list(self, announcement_id: int, towns: Sequence[Town]) -> list[SignOn]:
        """The sign-on of each of ``towns``: a town with no row is pending."""
        rows = await self.rows(announcement_id)
        return [_signon(town, rows.get(town.id)) for town in towns]

    async def get(self, announcement_id: int, town: Town) -> SignOn:
        query = sa.select(SignOnRow).where(SignOnRow.announcement_id == announcement_id, SignOnRow.town_id == town.id)
        return _signon(town, await self.session.scalar(query))

    async def summary(
        self, announcement_id: int, coalition_id: int, latest: int, everyone_up_to: int = 0
    ) -> SignOnSummary:
        """Counts per state over the coalition's members, and at most ``latest`` towns per state — every town
        when there are no more than ``everyone_up_to``.

        Signed and declined towns come most recent first (by the time of their decision), pending towns in the
        members' order. A few small queries, however many members the coalition has.
        """
        members = sa.select(CoalitionTownRow.town_id).where(CoalitionTownRow.coalition_id == coalition_id)
        counts = await self._counts(announcement_id, members)
        if sum(counts.values()) <= everyone_up_to:
            latest = max(latest, sum(counts.values()))
        declined = await self._latest(announcement_id, members, SignOnState.DECLINED, latest)
        signed = await self._latest(announcement_id, members, SignOnState.SIGNED, latest)
        return SignOnSummary(counts, declined, signed, await self._pending(announcement_id, coalition_id, latest))

    async def _counts(self, announcement_id: int, members: sa.Select[tuple[int]]) -> dict[SignOnState, int]:
        """How many members are in each state (those without a sign-on are pending)."""
        counted = (
            sa.select(SignOnRow.state, sa.func.count())
            .where(SignOnRow.announcement_id == announcement_id, SignOnRow.town_id.in_(members))
            .group_by(SignOnRow.state)
        )
        counts = dict.fromkeys(SignOnState, 0)
        for state, count in (await self.session.execute(counted)).tuples():
            counts[SignOnState(state)] += count
        total = await self.session.scalar(sa.select(sa.func.count()).select_from(members.subquery())) or 0
        counts[SignOnState.PENDING] = total - counts[SignOnState.SIGNED] - counts[SignOnState.DECLINED]
        return counts

    async def _latest(
        self, announcement_id: int, members: sa.Select[tuple[int]], state: SignOnState, latest: int
    ) -> builtins.list[SignOn]:
        query = (
            sa.select(SignOnRow, TownRow)
            .join(TownRow, TownRow.id == SignOnRow.town_id)
            .where(SignOnRow.announcement_id == announcement_id, SignOnRow.state == state.value)
            .where(SignOnRow.town_id.in_(members))
            .order_by(SignOnRow.at.desc(), SignOnRow.id.desc())
            .limit(latest)
        )
        return [_signon(_town(town), row) for row, town in (await self.session.execute(query)).tuples()]

    async def _pending(self, announcement_id: int, coalition_id: int, latest: int) -> builtins.list[SignOn]:
        query = (
            sa.select(TownRow, SignOnRow)
            .join(CoalitionTownRow, CoalitionTownRow.town_id == TownRow.id)
            .outerjoin(
                SignOnRow, sa.and_(SignOnRow.town_id == TownRow.id, SignOnRow.announcement_id == announcement_id)
            )
            .where(CoalitionTownRow.coalition_id == coalition_id)
            .where(sa.or_(SignOnRow.id.is_(None), SignOnRow.state == SignOnState.PENDING.value))
            .order_by(TownRow.name, TownRow.id)
            .limit(latest)
        )
        return [_signon(_town(town), row) for town, row in (await self.session.execute(query)).tuples()]

    async def record(
        self,
        announcement_id: int,
        town_id: int,
        state: SignOnState,
        *,
        by: str,
        version_number: int | None,
        reason: str | None = None,
        override_text: str | None = None,
    ) -> None:
        query = sa.select(SignOnRow).where(SignOnRow.announcement_id == announcement_id, SignOnRow.town_id == town_id)
        row = await self.session.scalar(query)
        if row is None:
            row = SignOnRow(announcement_id=announcement_id, town_id=town_id)
            self.session.add(row)
        elif state is SignOnState.PENDING and row.state == SignOnState.SIGNED.value:
            row.previous_version_number = row.version_number
        row.state, row.version_number, row.by_user, row.at = state.value, version_number, by, _now()
        row.reason, row.override_text = reason, override_text
        await self.session.flush()

    async def reset_signed(self, announcement_id: int) -> builtins.list[int]:
        """Puts every signed town back to pending after a new wording; returns those towns."""
        rows = await self.rows(announcement_id)
        reset = []
        for town_id, row in rows.items():
            if row.state == SignOnState.SIGNED.value:
                row.previous_version_number = row.version_number
                row.state, row.version_number, row.at = SignOnState.PENDING.value, None, _now()
                reset.append(town_id)
        await self.session.flush()
        return sorted(reset)

    async def erase_for_town(self, town_id: int) -> None:
        await self.session.execute(
            sa.update(SignOnRow)
            .where(SignOnRow.town_id == town_id)
            .values(by_user=None, override_text=None, reason=None)
        )


def _signon(town: Town, row: SignOnRow | None) -> SignOn:
    if row is None:
        return SignOn(town=town, state=SignOnState.PENDING)
    return SignOn(
        town=town,
        state=SignOnState(row.state),
        version_number=row.version_number,
        by=row.by_user,
        at=row.at,
        reason=row.reason,
        override_text=row.override_text,
        previous_version_number=row.previous_version_number,
    )


# --- deliveries -------------------------------------------------------------------------------------------


def _delivery(row: DeliveryRow) -> Delivery:
    return Delivery(
        id=row.id,
        announcement_id=row.announcement_id,
        town_id=row.town_id,
        account_id=row.account_id,
        platform=Platform(row.platform),
        text=row.text,
        idempotency_key=row.idempotency_key,
        state=DeliveryState(row.state),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        remote_id=row.remote_id,
        remote_url=row.remote_url,
        published_at=row.published_at,
        last_error=row.last_error,
        error=failure_of(row.error),
        preflight_error=failure_of(row.preflight_error),
    )


def failure_json(failure: Failure | None) -> dict[str, Any] | None:
    if failure is None:
        return None
    return {
        "key": failure.key,
        "params": failure.params,
        "permanent": failure.permanent,
        "reconnect": failure.reconnect,
    }


def failure_of(value: dict[str, Any] | None) -> Failure | None:
    if not value:
        return None
    params = {str(k): str(v) for k, v in dict(value.get("params") or {}).items()}
    return Failure(str(value["key"]), params, bool(value.get("permanent", True)), bool(value.get("reconnect", False)))


@dataclass(frozen=True, slots=True)
class NewDelivery:
    town_id: int
    account_id: int
    platform: Platform
    version_number: int
    text: str
    idempotency_key: str
    due: datetime


class DeliveryRepository(_Repository):
    async def create_many(self, announcement_id: int, deliveries: Sequence[NewDelivery]) -> None:
        if not deliveries:
            return
        now = _now()
        await self.session.execute(
            sa.insert(DeliveryRow),
            [
                {
                    "announcement_id": announcement_id,
                    "town_id": d.town_id,
                    "account_id": d.account_id,
                    "platform": d.platform.value,
                    "version_number": d.version_number,
                    "text": d.text,
                    "idempotency_key": d.idempotency_key,
                    "state": DeliveryState.PENDING.value,
                    "attempts": 0,
                    "next_attempt_at": d.due,
                    "created_at": now,
                    "updated_at": now,
                }
                for d in deliveries
            ],
        )

    async def list(self, announcement_id: int) -> list[Delivery]:
        query = (
            sa.select(DeliveryRow)
            .where(DeliveryRow.announcement_id == announcement_id)
            .order_by(DeliveryRow.town_id, DeliveryRow.platform)
        )
        return [_delivery(row) for row in await self.session.scalars(query)]

    async def keep_first_remote_key(self, delivery_id: int, key: str) -> str:
        """Sets the delivery's remote key only if it has none (one statement, so concurrent attempts agree);
        returns the key now stored."""
        await self.session.execute(
            sa.update(DeliveryRow)
            .where(DeliveryRow.id == delivery_id, DeliveryRow.remote_key.is_(None))
            .values(remote_key=key, updated_at=_now())
        )
        stored = await self.remote_key(delivery_id)
        if stored is None:
            raise LookupError(f"delivery {delivery_id} does not exist")
        return stored

    async def keep_first_remote_keys(self, keys: dict[int, str]) -> dict[int, str]:
        """:meth:`keep_first_remote_key` for many deliveries in one transaction; returns the keys now stored."""
        table = cast(sa.Table, DeliveryRow.__table__)
        await self.session.execute(
            sa.update(table)
            .where(table.c.id == sa.bindparam("delivery"), table.c.remote_key.is_(None))
            .values(remote_key=sa.bindparam("key")),
            [{"delivery": i, "key": k} for i, k in keys.items()],
        )
        query = sa.select(DeliveryRow.id, DeliveryRow.remote_key).where(DeliveryRow.id.in_(list(keys)))
        return {i: k for i, k in (await self.session.execute(query)).tuples() if k is not None}

    async def remote_key(self, delivery_id: int) -> str | None:
        return await self.session.scalar(sa.select(DeliveryRow.remote_key).where(DeliveryRow.id == delivery_id))

    async def delete_pending(self, announcement_id: int) -> int:
        result = await self.session.execute(
            sa.delete(DeliveryRow).where(
                DeliveryRow.announcement_id == announcement_id,
                DeliveryRow.state == DeliveryState.PENDING.value,
            )
        )
        return int(getattr(result, "rowcount", 0))

    async def counts(self, announcement_id: int) -> dict[DeliveryState, int]:
        query = (
            sa.select(DeliveryRow.state, sa.func.count())
            .where(DeliveryRow.announcement_id == announcement_id)
            .group_by(DeliveryRow.state)
        )
        return {DeliveryState(s): n for s, n in (await self.session.execute(query)).tuples()}

    async def totals(self) -> dict[DeliveryState, int]:
        """How many deliveries of every announcement are in each state (every state named, zero included)."""
        query = sa.select(DeliveryRow.state, sa.func.count()).group_by(DeliveryRow.state)
        found = {s: n for s, n in (await self.session.execute(query)).tuples()}
        return {state: found.get(state.value, 0) for state in DeliveryState}


# --- audit ------------------------------------------------------------------------------------------------


def _audit(row: AuditRow) -> AuditEntry:
    return AuditEntry(
        id=row.id,
        at=row.at,
        actor=row.actor,
        action=row.action,
        coalition_id=row.coalition_id,
        announcement_id=row.announcement_id,
        town_id=row.town_id,
        version_number=row.version_number,
        details=dict(row.details or {}),
    )


class AuditRepository(_Repository):
    async def append(
        self,
        actor: str,
        action: str,
        *,
        coalition_id: int | None = None,
        announcement_id: int | None = None,
        town_id: int | None = None,
        version_number: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.session.add(
            AuditRow(
                actor=actor,
                action=action,
                coalition_id=coalition_id,
                announcement_id=announcement_id,
                town_id=town_id,
                version_number=version_number,
                details=details or {},
                at=_now(),
            )
        )
        await self.session.flush()

    async def list(
        self,
        *,
        coalition_id: int | None = None,
        announcement_id: int | None = None,
        since: datetime | None = None,
    ) -> builtins.list[AuditEntry]:
        query = sa.select(AuditRow).order_by(AuditRow.id)
        if coalition_id is not None:
            query = query.where(AuditRow.coalition_id == coalition_id)
        if announcement_id is not None:
            query = query.where(AuditRow.announcement_id == announcement_id)
        if since is not None:
            query = query.where(AuditRow.at >= since)
        return [_audit(row) for row in await self.session.scalars(query)]

    async def pseudonymise_town(self, town_id: int, replacement: str) -> None:
        """Entries about the town keep what was decided, not who decided it (GDPR erasure)."""
        await self.session.execute(
            sa.update(AuditRow).where(AuditRow.town_id == town_id).values(actor=replacement, details={})
        )

    async def pseudonymise_actor(self, actor: str, actions: Iterable[str], replacement: str) -> None:
        """``actor``'s entries of ``actions`` no longer name them (GDPR erasure)."""
        await self.session.execute(
            sa.update(AuditRow)
            .where(AuditRow.actor == actor, AuditRow.action.in_(list(actions)))
            .values(actor=replacement, details={})
        )


# --- front ends' messages about announcements -----------------------------------------------------------


def _message(row: AnnouncementMessageRow) -> AnnouncementMessage:
    return AnnouncementMessage(
        row.announcement_id, row.channel, row.message_id, row.purpose, row.author, row.town_id, row.media_sha256
    )


class MessageRepository(_Repository):
    async def add(self, message: AnnouncementMessage) -> bool:
        """Records a message; False when the same message was already recorded for that purpose."""
        query = sa.select(AnnouncementMessageRow.id).where(
            AnnouncementMessageRow.message_id == message.message_id,
            AnnouncementMessageRow.purpose == message.purpose,
        )
        if await self.session.scalar(query) is not None:
            return False
        self.session.add(
            AnnouncementMessageRow(
                announcement_id=message.announcement_id,
                channel=message.channel,
                message_id=message.message_id,
                purpose=message.purpose,
                author=message.author,
                town_id=message.town_id,
                media_sha256=message.media,
            )
        )
        await self.session.flush()
        return True

    async def find(self, message_id: str) -> list[AnnouncementMessage]:
        query = (
            sa.select(AnnouncementMessageRow)
            .where(AnnouncementMessageRow.message_id == message_id)
            .order_by(AnnouncementMessageRow.id)
        )
        return [_message(row) for row in await self.session.scalars(query)]

    async def of(
        self, announcement_id: int, purpose: str | None = None, town_id: int | None = None
    ) -> list[AnnouncementMessage]:
        query = sa.select(AnnouncementMessageRow).where(AnnouncementMessageRow.announcement_id == announcement_id)
        if purpose is not None:
            query = query.where(AnnouncementMessageRow.purpose == purpose)
        if town_id is not None:
            query = query.where(AnnouncementMessageRow.town_id == town_id)
        return [_message(row) for row in await self.session.scalars(query.order_by(AnnouncementMessageRow.id))]

    async def remove(self, message_id: str, purpose: str) -> bool:
        result = await self.session.execute(
            sa.delete(AnnouncementMessageRow).where(
                AnnouncementMessageRow.message_id == message_id, AnnouncementMessageRow.purpose == purpose
            )
        )
        return bool(getattr(result, "rowcount", 0))

    async def remove_media(self, announcement_id: int, purpose: str, sha256: str) -> int:
        """Forgets the announcement's messages of ``purpose`` that carry image ``sha256``; returns how many."""
        result = await self.session.execute(
            sa.delete(AnnouncementMessageRow).where(
                AnnouncementMessageRow.announcement_id == announcement_id,
                AnnouncementMessageRow.purpose == purpose,
                AnnouncementMessageRow.media_sha256 == sha256,
            )
        )
        return int(getattr(result, "rowcount", 0))

    async def remove_for_town(self, town_id: int) -> int:
        """Forgets the messages recorded for a town (the reactions that signed or declined for it, each with
        the Matrix id of who reacted); returns how many."""
        result = await self.session.execute(
            sa.delete(AnnouncementMessageRow).where(AnnouncementMessageRow.town_id == town_id)
        )
        return int(getattr(result, "rowcount", 0))


# --- people's own preferences -------------------------------------------------------------------------------


class PreferenceRepository(_Repository):
    async def language(self, user_id: str) -> str | None:
        row = await self.session.get(UserPreferenceRow, user_id)
        return row.language if row else None

    async def set_language(self, user_id: str, language: str) -> None:
        row = await self.session.get(UserPreferenceRow, user_id)
        if row is None:
            self.session.add(UserPreferenceRow(user_id=user_id, language=language, updated_at=_now()))
        else:
            row.language, row.updated_at = language, _now()
        await self.session.flush()

    async def forget(self, user_id: str) -> bool:
        result = await self.session.execute(sa.delete(UserPreferenceRow).where(UserPreferenceRow.user_id == user_id))
        return bool(getattr(result, "rowcount", 0))


# --- processed inbound events -----------------------------------------------------------------------------


class EventRepository(_Repository):
    async def seen(self, event_id: str) -> bool:
        return await self.session.get(ProcessedEventRow, event_id) is not None

    async def first_time(self, event_id: str) -> bool:
        """Records ``event_id``; True only the first time it is seen, so a replay is never acted on twice."""
        if await self.session.get(ProcessedEventRow, event_id) is not None:
            return False
        try:
            async with self.session.begin_nested():
                self.session.add(ProcessedEventRow(event_id=event_id, processed_at=_now()))
        except sa.exc.IntegrityError:
            return False  # another worker recorded it first
        return True

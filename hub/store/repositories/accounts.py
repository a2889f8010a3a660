"""The towns' accounts on the networks, with their encrypted secrets."""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, cast

import orjson
import sqlalchemy as sa

from hub.domain.model import Account, Credential, Platform
from hub.store.models import AccountRow
from hub.store.models.members import LinkedAccountColumns
from hub.store.repositories.base import Repository
from hub.store.repositories.mapping import account_of, to_account

_ACCOUNTS = cast(sa.Table, AccountRow.__table__)
#: What an :class:`~hub.domain.model.Account` shows of its row (never the encrypted secret and session).
_SHOWN = tuple(
    _ACCOUNTS.c[name]
    for name in (
        "id", "town_id", "platform", "identifier", "server", "limits", "last_verified_at", "last_error", "credential"
    )
)  # fmt: skip
#: What the dispatcher reads of the accounts of a batch of posts: what they show, the limits as their stored
#: text (see :meth:`AccountRepository.for_posting`, which unpacks them in this order), and the encrypted secret
#: and session.
_POSTING = (
    *(column for column in _SHOWN if column.name != "limits"),
    sa.cast(_ACCOUNTS.c.limits, sa.Text).label("limits_text"),
    _ACCOUNTS.c.secret,
    _ACCOUNTS.c.session,
)
#: An account found able to publish (its server's limits with it), and one found unable: each statement is
#: executed once for a whole pre-flight batch (executemany), not once per account.
_VERIFIED = (
    sa.update(_ACCOUNTS)
    .where(_ACCOUNTS.c.id == sa.bindparam("b_id"))
    .values(last_error=None, limits=sa.bindparam("b_limits"))
)
_UNVERIFIED = (
    sa.update(_ACCOUNTS).where(_ACCOUNTS.c.id == sa.bindparam("b_id")).values(last_error=sa.bindparam("b_error"))
)


@dataclass(frozen=True, slots=True)
class HealthRecord:
    """One account's check to record: ``error`` (in the hub's language) is None when it can publish."""

    account_id: int
    error: str | None
    limits: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class EncryptedSecrets:
    account_id: int
    secret: bytes
    session: bytes | None


class LinkedAccounts(Repository):
    """What the towns' accounts and the coalitions' own answer alike, from the columns their tables share
    (:class:`~hub.store.models.members.LinkedAccountColumns`): encrypted secrets and sessions, health."""

    rows: ClassVar[type[LinkedAccountColumns]]

    async def secrets(self, account_id: int) -> EncryptedSecrets | None:
        row = await self.session.get(self.rows, account_id)
        return EncryptedSecrets(row.id, row.secret, row.session) if row else None

    async def all_secrets(self) -> builtins.list[EncryptedSecrets]:
        rows = await self.session.scalars(sa.select(self.rows).order_by(self.rows.id))
        return [EncryptedSecrets(row.id, row.secret, row.session) for row in rows]

    async def store_secrets(self, secrets: EncryptedSecrets) -> None:
        await self.session.execute(
            sa.update(self.rows)
            .where(self.rows.id == secrets.account_id)
            .values(secret=secrets.secret, session=secrets.session)
        )

    async def store_session(self, account_id: int, session: bytes | None) -> None:
        """Replaces the encrypted network session alone (the secret is left as it is)."""
        await self.session.execute(sa.update(self.rows).where(self.rows.id == account_id).values(session=session))

    async def record_health(self, account_id: int, *, error: str | None, limits: dict[str, Any] | None = None) -> None:
        now = self.clock()
        values: dict[str, Any] = {"last_error": error, "updated_at": now}
        if error is None:
            values["last_verified_at"] = now
        if limits is not None:
            values["limits"] = limits
        await self.session.execute(sa.update(self.rows).where(self.rows.id == account_id).values(**values))


class AccountRepository(LinkedAccounts):
    rows = AccountRow

    async def upsert(
        self,
        town_id: int,
        platform: Platform,
        identifier: str,
        server: str,
        secret: bytes,
        credential: Credential,
        oauth_app_id: int | None = None,
    ) -> Account:
        """Links (or re-links) the town's account on ``platform``; a re-link forgets the old session."""
        query = sa.select(AccountRow).where(AccountRow.town_id == town_id, AccountRow.platform == platform)
        now = self.clock()
        row = await self.session.scalar(query)
        if row is None:
            row = AccountRow(town_id=town_id, platform=platform.value, limits={}, created_at=now)
            self.session.add(row)
        row.identifier, row.server, row.secret, row.session = identifier, server, secret, None
        row.last_verified_at, row.last_error, row.updated_at = None, None, now
        row.credential, row.oauth_app_id = credential.value, oauth_app_id
        await self.session.flush()
        return to_account(row)

    async def get(self, account_id: int) -> Account | None:
        row = await self.session.get(AccountRow, account_id)
        return to_account(row) if row else None

    async def many(self, account_ids: Iterable[int]) -> dict[int, Account]:
        """Plain rows of the columns an :class:`Account` shows (no ORM objects, no encrypted columns): the
        dispatcher reads thousands at once."""
        query = sa.select(*_SHOWN).where(AccountRow.id.in_(list(account_ids)))
        return {row.id: to_account(row) for row in await self.session.execute(query)}

    async def of_town(self, town_id: int) -> list[Account]:
        query = sa.select(AccountRow).where(AccountRow.town_id == town_id).order_by(AccountRow.platform)
        return [to_account(row) for row in await self.session.scalars(query)]

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
                found.setdefault(row.town_id, []).append(to_account(row))
        return found

    async def list(self) -> list[Account]:
        query = sa.select(AccountRow).order_by(AccountRow.town_id, AccountRow.platform)
        return [to_account(row) for row in await self.session.scalars(query)]

    async def for_posting(self, account_ids: Iterable[int]) -> dict[int, tuple[Account, EncryptedSecrets]]:
        """The accounts of a batch of posts with their encrypted secrets, in one statement.

        The accounts on one server carry the same limits (its instance's: on Mastodon a kilobyte of JSON with
        two dozen media types): each distinct text is parsed once per batch, not once per account."""
        query = sa.select(*_POSTING).where(AccountRow.id.in_(list(account_ids)))
        parsed: dict[str, dict[str, Any]] = {}
        found: dict[int, tuple[Account, EncryptedSecrets]] = {}
        # Unpacked at once, in _POSTING's order: read by name, the rows would cost more than the accounts.
        for id_, town_id, platform, identifier, server, verified, error, credential, text, secret, session in (
            await self.core(query)
        ).all():
            text = text or "{}"
            limits = parsed.get(text)
            if limits is None:
                limits = parsed[text] = orjson.loads(text)
            account = account_of(id_, town_id, platform, identifier, server, limits, verified, error, credential)
            found[id_] = (account, EncryptedSecrets(id_, secret, session))
        return found

    async def oauth_app_of(self, account_id: int) -> int | None:
        """The app that issued the account's OAuth token (None for a password or a pasted token)."""
        return await self.session.scalar(sa.select(AccountRow.oauth_app_id).where(AccountRow.id == account_id))

    async def delete(self, account_id: int) -> None:
        await self.session.execute(sa.delete(AccountRow).where(AccountRow.id == account_id))

    async def record_healths(self, checks: builtins.list[HealthRecord]) -> None:
        """:meth:`record_health` for many accounts, in two statements."""
        now = self.clock()
        verified = [{"b_id": c.account_id, "b_limits": c.limits} for c in checks if c.error is None and c.limits]
        unverified = [{"b_id": c.account_id, "b_error": c.error} for c in checks if c.error is not None]
        for check in checks:  # verified, but the server did not say its limits: the known ones are kept
            if check.error is None and not check.limits:
                await self.record_health(check.account_id, error=None)
        if verified:
            await self.session.execute(_VERIFIED.values(updated_at=now, last_verified_at=now), verified)
        if unverified:
            await self.session.execute(_UNVERIFIED.values(updated_at=now), unverified)

    async def delete_for_town(self, town_id: int) -> int:
        result = await self.session.execute(sa.delete(AccountRow).where(AccountRow.town_id == town_id))
        return int(getattr(result, "rowcount", 0))

"""Unisson's apps on Mastodon servers (their client secret encrypted) and the authorizations waiting for a code
(their state hashed, their PKCE verifier encrypted)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from hub.store.models import OAuthAppRow, OAuthRequestRow
from hub.store.repositories.base import Repository


@dataclass(frozen=True, slots=True)
class StoredApp:
    """An app as stored: the client secret stays encrypted."""

    id: int
    server: str
    redirect_uri: str
    client_id: str
    client_secret: bytes
    scopes: str
    pkce: bool

    def __repr__(self) -> str:
        return f"StoredApp(id={self.id}, server={self.server})"


@dataclass(frozen=True, slots=True)
class StoredRequest:
    """An authorization request as stored: the state's hash, the verifier encrypted."""

    id: int
    user_id: str
    town_id: int
    room_id: str
    app_id: int
    domain: str
    verifier: bytes | None
    expires_at: datetime
    used_at: datetime | None

    def __repr__(self) -> str:
        return f"StoredRequest(id={self.id}, town_id={self.town_id})"


def _app(row: OAuthAppRow) -> StoredApp:
    return StoredApp(row.id, row.server, row.redirect_uri, row.client_id, row.client_secret, row.scopes, row.pkce)


def _request(row: OAuthRequestRow) -> StoredRequest:
    return StoredRequest(
        row.id,
        row.user_id,
        row.town_id,
        row.room_id,
        row.app_id,
        row.domain,
        row.verifier,
        row.expires_at,
        row.used_at,
    )


class OAuthRepository(Repository):
    async def app(self, server: str, redirect_uri: str) -> StoredApp | None:
        query = sa.select(OAuthAppRow).where(OAuthAppRow.server == server, OAuthAppRow.redirect_uri == redirect_uri)
        row = await self.session.scalar(query)
        return _app(row) if row else None

    async def app_by_id(self, app_id: int) -> StoredApp | None:
        row = await self.session.get(OAuthAppRow, app_id)
        return _app(row) if row else None

    async def add_app(
        self, server: str, redirect_uri: str, client_id: str, client_secret: bytes, scopes: str, pkce: bool
    ) -> StoredApp:
        row = OAuthAppRow(
            server=server,
            redirect_uri=redirect_uri,
            client_id=client_id,
            client_secret=client_secret,
            scopes=scopes,
            pkce=pkce,
            created_at=self.clock(),
        )
        self.session.add(row)
        await self.session.flush()
        return _app(row)

    async def add_request(
        self,
        state_hash: str,
        user_id: str,
        town_id: int,
        room_id: str,
        app_id: int,
        domain: str,
        verifier: bytes | None,
        expires_at: datetime,
    ) -> None:
        now = self.clock()
        # One request waits per officer and conversation: a new one replaces the previous one.
        await self.session.execute(
            sa.update(OAuthRequestRow)
            .where(OAuthRequestRow.user_id == user_id, OAuthRequestRow.room_id == room_id)
            .where(OAuthRequestRow.used_at.is_(None))
            .values(used_at=now)
        )
        self.session.add(
            OAuthRequestRow(
                state_hash=state_hash,
                user_id=user_id,
                town_id=town_id,
                room_id=room_id,
                app_id=app_id,
                domain=domain,
                verifier=verifier,
                created_at=now,
                expires_at=expires_at,
            )
        )
        await self.session.flush()

    async def latest(self, user_id: str, room_id: str) -> StoredRequest | None:
        """The officer's newest request in that conversation, used or not."""
        query = (
            sa.select(OAuthRequestRow)
            .where(OAuthRequestRow.user_id == user_id, OAuthRequestRow.room_id == room_id)
            .order_by(OAuthRequestRow.id.desc())
            .limit(1)
        )
        row = await self.session.scalar(query)
        return _request(row) if row else None

    async def by_state(self, state_hash: str) -> StoredRequest | None:
        row = await self.session.scalar(sa.select(OAuthRequestRow).where(OAuthRequestRow.state_hash == state_hash))
        return _request(row) if row else None

    async def use(self, request_id: int) -> bool:
        """Marks the request used; False if it already was (two answers racing for one request)."""
        result = await self.session.execute(
            sa.update(OAuthRequestRow)
            .where(OAuthRequestRow.id == request_id, OAuthRequestRow.used_at.is_(None))
            .values(used_at=self.clock())
        )
        return int(getattr(result, "rowcount", 0)) == 1

    async def forget_before(self, moment: datetime) -> None:
        """Drops requests that expired before ``moment`` (nothing in them is of use any more)."""
        await self.session.execute(sa.delete(OAuthRequestRow).where(OAuthRequestRow.expires_at < moment))

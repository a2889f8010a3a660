"""Engine, sessions and the unit of work that services use."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from hub.store.answers import AnswerRepository
from hub.store.links import LinkRepository
from hub.store.outbox import OutboxRepository, ReportRepository, WorkerRepository
from hub.store.pages import PageRepository
from hub.store.repositories import (
    AccountRepository,
    AnnouncementRepository,
    AuditRepository,
    CoalitionRepository,
    DeliveryRepository,
    EventRepository,
    MediaRepository,
    MessageRepository,
    PreferenceRepository,
    RoleRepository,
    SignOnRepository,
    TownRepository,
)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Foreign keys are off by default on SQLite; WAL lets the CLI read while the service writes.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()
    # Let SQLAlchemy's BEGIN below open the transactions, not the driver (which would open them lazily).
    dbapi_connection.isolation_level = None


def _sqlite_begin(connection: Any) -> None:
    # IMMEDIATE takes the write lock at once: two transactions that read then write wait for each other
    # (busy_timeout) instead of failing with "database is locked" when the reader tries to write.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(url: str) -> AsyncEngine:
    """An async engine for ``url`` (``sqlite+aiosqlite://`` or ``postgresql+asyncpg://``)."""
    if url.startswith("sqlite"):
        # SQLite has one writer and our transactions take the write lock at once: with one connection, units
        # wait their turn in the pool's queue (fair, no polling) instead of in SQLite's busy handler, which
        # sleeps up to 100 ms between tries and would make the dispatcher's many short transactions crawl.
        engine = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=60)
    else:
        engine = create_async_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
    return engine


class UnitOfWork:
    """One transaction, with a repository per noun. Commits on success, rolls back on error."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.coalitions = CoalitionRepository(session)
        self.towns = TownRepository(session)
        self.roles = RoleRepository(session)
        self.accounts = AccountRepository(session)
        self.media = MediaRepository(session)
        self.announcements = AnnouncementRepository(session)
        self.signons = SignOnRepository(session)
        self.deliveries = DeliveryRepository(session)
        self.audit = AuditRepository(session)
        self.events = EventRepository(session)
        self.messages = MessageRepository(session)
        self.preferences = PreferenceRepository(session)
        self.answers = AnswerRepository(session)
        self.outbox = OutboxRepository(session)
        self.workers = WorkerRepository(session)
        self.reports = ReportRepository(session)
        self.links = LinkRepository(session)
        self.pages = PageRepository(session)


class Store:
    """The database of one deployment."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def from_url(cls, url: str) -> Store:
        return cls(create_engine(url))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[UnitOfWork]:
        async with self._sessions() as session, session.begin():
            yield UnitOfWork(session)

    async def close(self) -> None:
        await self.engine.dispose()

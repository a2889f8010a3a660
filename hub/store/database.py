"""Engine, sessions and the unit of work that services use."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import event, exc
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.util import await_only

from hub.store.outbox import OutboxRepository
from hub.store.repositories import (
    AccountRepository,
    AlertRepository,
    AnnouncementRepository,
    AnswerRepository,
    AuditRepository,
    CoalitionAccountRepository,
    CoalitionRepository,
    DeliveryRepository,
    EventRepository,
    LinkRepository,
    MediaRepository,
    MessageRepository,
    OAuthRepository,
    PageRepository,
    PreferenceRepository,
    ReachRepository,
    ReportRepository,
    RepostRepository,
    RoleRepository,
    ServerRepository,
    SignOnRepository,
    StarterPackRepository,
    ThreadRuleRepository,
    TownRepository,
    UnstagingRepository,
    WorkerRepository,
)

log = logging.getLogger(__name__)

#: SQLSTATE prefixes of a database out of reach: 08 (connection exception) and 57P (the server shutting down,
#: restarting or starting up).
_UNREACHABLE_STATES = ("08", "57P")


def unreachable(error: BaseException) -> bool:
    """Whether ``error`` says the database could not be reached (down, restarting, the connection lost or its
    pool exhausted) rather than refusing a statement: something to wait out and try again.

    A pooled connection the server dropped is replaced at its next checkout (``pool_pre_ping``); only the
    statements under way when it dropped fail, with an error recognised here.
    """
    if isinstance(error, OSError | exc.TimeoutError):  # refused or timed-out connections, a full pool
        return True
    if isinstance(error, exc.DBAPIError):
        return error.connection_invalidated or _unreachable_state(error.orig)
    return _unreachable_state(error)  # the driver's own error, raised while connecting


def _unreachable_state(error: BaseException | None) -> bool:
    return str(getattr(error, "sqlstate", None) or "").startswith(_UNREACHABLE_STATES)


def utc_now() -> datetime:
    """The wall clock, in UTC: the clock of a deployment."""
    return datetime.now(UTC)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Foreign keys are off by default on SQLite; WAL lets the CLI read while the service writes.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=10000")  # first: the next pragmas may already meet another writer
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()
    # Let SQLAlchemy's BEGIN below open the transactions, not the driver (which would open them lazily).
    dbapi_connection.isolation_level = None


def _sqlite_begin(connection: Any) -> None:
    # IMMEDIATE takes the write lock at once: two transactions that read then write wait for each other
    # (busy_timeout) instead of failing with "database is locked" when the reader tries to write. Sent by the
    # driver itself: one trip to its thread, where a statement through SQLAlchemy's adapter makes three (cursor,
    # execute, close), each costing some 0.1 ms of CPU; at the instant the dispatcher opens a hundred units.
    await_only(connection.connection.driver_connection.execute("BEGIN IMMEDIATE"))


def _sqlite_roll_back(dbapi_connection: Any, _record: Any, _error: BaseException | None) -> None:
    # SQLAlchemy invalidates a connection whose statement or commit was cancelled (a side task stopped mid-unit, a
    # timeout) and closes it without rolling back. If the cancelled statement's rows were not read, its cursor (kept
    # alive by the cancellation's traceback) makes SQLite's close leave a "zombie" connection that keeps its
    # transaction, and so the write lock, until the garbage collector frees that cursor: the next BEGIN IMMEDIATE
    # would wait out the busy timeout and fail with "database is locked". A rollback first releases the lock. It is
    # queued on the driver's thread, so it runs even if a second cancellation stops us waiting for it.
    try:
        dbapi_connection.rollback()
    except Exception:
        log.warning("could not roll back an invalidated SQLite connection before closing it", exc_info=True)


def _json_text(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


#: The JSON columns' codec: at the instant thousands of claimed rows carry JSON (what the pre-flight prepared,
#: the accounts' limits); orjson reads them several times faster than the standard module, and shares the
#: strings of repeated keys instead of holding a copy per row.
_JSON_CODEC: dict[str, Any] = {"json_serializer": _json_text, "json_deserializer": orjson.loads}


def create_engine(url: str) -> AsyncEngine:
    """An async engine for ``url`` (``sqlite+aiosqlite://`` or ``postgresql+asyncpg://``)."""
    if url.startswith("sqlite"):
        # SQLite has one writer and our transactions take the write lock at once: with one connection, units
        # wait their turn in the pool's queue (fair, no polling) instead of in SQLite's busy handler, which
        # sleeps up to 100 ms between tries and would make the dispatcher's many short transactions crawl.
        engine = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=60, **_JSON_CODEC)
    else:
        engine = create_async_engine(url, pool_pre_ping=True, **_JSON_CODEC)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        event.listen(engine.sync_engine, "invalidate", _sqlite_roll_back)
    return engine


class UnitOfWork:
    """One transaction, with a repository per noun. Commits on success, rolls back on error.

    ``clock`` dates every row the repositories write (the hub's clock, so tests can move it).
    """

    def __init__(self, session: AsyncSession, clock: Callable[[], datetime]) -> None:
        self.session = session
        self.coalitions = CoalitionRepository(session, clock)
        self.towns = TownRepository(session, clock)
        self.roles = RoleRepository(session, clock)
        self.accounts = AccountRepository(session, clock)
        self.media = MediaRepository(session, clock)
        self.announcements = AnnouncementRepository(session, clock)
        self.signons = SignOnRepository(session, clock)
        self.deliveries = DeliveryRepository(session, clock)
        self.audit = AuditRepository(session, clock)
        self.events = EventRepository(session, clock)
        self.messages = MessageRepository(session, clock)
        self.preferences = PreferenceRepository(session, clock)
        self.answers = AnswerRepository(session, clock)
        self.outbox = OutboxRepository(session, clock)
        self.workers = WorkerRepository(session, clock)
        self.reports = ReportRepository(session, clock)
        self.links = LinkRepository(session, clock)
        self.pages = PageRepository(session, clock)
        self.oauth = OAuthRepository(session, clock)
        self.alerts = AlertRepository(session, clock)
        self.coalition_accounts = CoalitionAccountRepository(session, clock)
        self.reach = ReachRepository(session, clock)
        self.starter_packs = StarterPackRepository(session, clock)
        self.reposts = RepostRepository(session, clock)
        self.threads = ThreadRuleRepository(session, clock)
        self.unstagings = UnstagingRepository(session, clock)
        self.servers = ServerRepository(session, clock)


class Store:
    """The database of one deployment; ``clock`` dates what its units of work write."""

    def __init__(self, engine: AsyncEngine, clock: Callable[[], datetime] = utc_now) -> None:
        self.engine = engine
        self.clock = clock
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def from_url(cls, url: str, clock: Callable[[], datetime] = utc_now) -> Store:
        return cls(create_engine(url), clock)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[UnitOfWork]:
        async with self._sessions() as session, session.begin():
            yield UnitOfWork(session, self.clock)

    async def close(self) -> None:
        await self.engine.dispose()

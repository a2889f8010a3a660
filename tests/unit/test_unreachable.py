"""Which errors say the database is out of reach (to wait out) rather than a statement refused (a bug)."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy import exc

from hub.store import unreachable


def _wrapped(orig: Exception, *, invalidated: bool = False) -> exc.DBAPIError:
    return exc.DBAPIError("SELECT 1", None, orig, connection_invalidated=invalidated)


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "Connect call failed"),  # the server is down: raised as is while connecting
        TimeoutError(),
        exc.TimeoutError("QueuePool limit reached"),
        asyncpg.CannotConnectNowError("the database system is starting up"),  # 57P03
        _wrapped(RuntimeError("connection was closed in the middle of operation"), invalidated=True),
        _wrapped(asyncpg.AdminShutdownError("terminating connection due to administrator command")),  # 57P01
    ],
)
def test_a_database_out_of_reach(error: Exception) -> None:
    assert unreachable(error)


@pytest.mark.parametrize(
    "error",
    [
        exc.IntegrityError("INSERT", None, asyncpg.UniqueViolationError("duplicate key")),
        _wrapped(asyncpg.UndefinedTableError('relation "deliveries" does not exist')),
        ValueError("a bug"),
    ],
)
def test_a_statement_refused_or_a_bug(error: Exception) -> None:
    assert not unreachable(error)

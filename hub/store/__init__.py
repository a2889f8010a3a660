"""Storage: SQLAlchemy models, repositories returning domain values, Alembic migrations.

Nothing outside this package sees an ``AsyncSession``.
"""

from hub.store.database import Store, UnitOfWork, unreachable, utc_now

__all__ = ["Store", "UnitOfWork", "unreachable", "utc_now"]

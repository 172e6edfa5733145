"""How the relay may lock outbox rows on a given database."""

from __future__ import annotations

import enum

import sqlalchemy as sa

__all__ = ["RowLocking", "row_locking"]


class RowLocking(enum.Enum):
    """The row locking a database offers the relay's claim.

    * ``SKIP_LOCKED``: ``SELECT ... FOR UPDATE SKIP LOCKED`` (PostgreSQL,
      MariaDB >= 10.6, MySQL >= 8.0.1). Several relays share the work.
    * ``FOR_UPDATE``: plain ``FOR UPDATE`` (older MariaDB/MySQL). Several
      relays are safe but take turns.
    * ``NONE``: no row locks (SQLite). Run one relay per database.
    """

    SKIP_LOCKED = "skip-locked"
    FOR_UPDATE = "for-update"
    NONE = "none"


def row_locking(dialect: sa.Dialect) -> RowLocking:
    """The best :class:`RowLocking` for a connected ``dialect``."""
    if dialect.name == "sqlite":
        return RowLocking.NONE
    if dialect.name == "postgresql":
        return RowLocking.SKIP_LOCKED
    if dialect.name in ("mysql", "mariadb"):
        version = tuple(dialect.server_version_info or ())
        mariadb = bool(getattr(dialect, "is_mariadb", False))
        needed = (10, 6) if mariadb else (8, 0, 1)
        return RowLocking.SKIP_LOCKED if version >= needed else RowLocking.FOR_UPDATE
    return RowLocking.FOR_UPDATE

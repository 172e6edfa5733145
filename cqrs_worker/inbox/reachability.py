"""Telling "the database is unreachable" apart from "the handler failed"."""

from __future__ import annotations

import sqlalchemy.exc as sa_exc

__all__ = ["Unreachable", "database_unreachable"]


class Unreachable(Exception):
    """The transaction could not begin; the cause says why."""


_UNREACHABLE = (
    sa_exc.OperationalError,  # refused, reset, server gone away, deadlock, SQLite busy
    sa_exc.InterfaceError,  # the driver lost the connection
    sa_exc.TimeoutError,  # no pooled connection came free
    OSError,  # a connect that failed below the driver
    TimeoutError,
)
# SQLite reports a missing table or bad SQL as OperationalError too.
_SQLITE_TRANSIENT = ("locked", "busy", "unable to open", "disk i/o")


def database_unreachable(error: BaseException) -> bool:
    """Whether ``error``, raised while opening a transaction, means the database is not there."""
    if isinstance(error, sa_exc.DBAPIError):
        if error.connection_invalidated:
            return True
        if type(error.orig).__module__.startswith("sqlite3"):
            message = str(error.orig).lower()
            return any(word in message for word in _SQLITE_TRANSIENT)
    return isinstance(error, _UNREACHABLE)

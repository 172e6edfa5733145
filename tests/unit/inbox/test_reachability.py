"""Which errors at the start of a transaction mean "wait for the database"."""

from __future__ import annotations

import sqlite3

import sqlalchemy.exc as sa_exc

from cqrs_worker.inbox.reachability import database_unreachable


def operational(orig: Exception) -> sa_exc.OperationalError:
    return sa_exc.OperationalError("INSERT ...", {}, orig)


def test_connection_failures_mean_unreachable() -> None:
    assert database_unreachable(ConnectionRefusedError())
    assert database_unreachable(operational(OSError("connection reset")))
    assert database_unreachable(sa_exc.TimeoutError("QueuePool limit reached"))


def test_a_busy_sqlite_means_unreachable_but_a_missing_table_does_not() -> None:
    assert database_unreachable(operational(sqlite3.OperationalError("database is locked")))
    assert not database_unreachable(operational(sqlite3.OperationalError("no such table: inbox")))


def test_other_errors_are_failures() -> None:
    assert not database_unreachable(sa_exc.IntegrityError("INSERT ...", {}, ValueError("dup")))
    assert not database_unreachable(RuntimeError("a handler bug"))

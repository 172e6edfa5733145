"""Start-up checks of the relay and the ``outbox`` commands: the database, the table, the broker.

Each check raises :class:`~cqrs_worker.errors.ConfigurationError` with one
line saying what to fix (the CLI exits 2), so a wrong DSN, a role without
rights, a missing table or an unreachable broker is reported before anything
runs. Outages *after* start-up are the relay's to ride out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cqrs_worker.brokers.message import OutgoingMessage
from cqrs_worker.brokers.protocol import MessageBroker
from cqrs_worker.errors import ConfigurationError, PublishError

__all__ = [
    "CONNECT_TIMEOUT",
    "StartedBroker",
    "check_database",
    "quiet_clients",
    "start_broker",
]

#: Seconds a database or broker may take to accept the first connection.
CONNECT_TIMEOUT = 15.0

# What the relay does to its table; each is tried on no row at start-up.
_PROBES = ("SELECT", "UPDATE", "DELETE")
_CLIENT_LOGGERS = ("aiokafka", "aio_pika", "aiormq")
_DRIVER_CLASS = re.compile(r"^<class '[\w.]+'>:\s*")


async def check_database(
    engine: AsyncEngine,
    table: sa.Table,
    *,
    privileges: Sequence[str] = _PROBES,
    where: str = "the EventProducer's engine",
) -> None:
    """Connect, find ``table`` with its columns, and try each of ``privileges`` on no row.

    ``where`` names the setting the URL came from, for the message.
    """
    url = engine.url.render_as_string(hide_password=True)
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT):
            conn = await engine.connect()
    except TimeoutError:
        raise ConfigurationError(
            f"the database at {url} ({where}) did not answer within {CONNECT_TIMEOUT:.0f}s; "
            f"check the host and port and that the server is up"
        ) from None
    except (SQLAlchemyError, OSError) as exc:
        raise ConfigurationError(
            f"cannot connect to the database at {url} ({where}): {_reason(exc)}; check the "
            f"host, port, user, password and database name, and that the server is up"
        ) from None
    try:
        await _check_table(conn, table, privileges, url)
    finally:
        await conn.close()


async def _check_table(
    conn: AsyncConnection, table: sa.Table, privileges: Sequence[str], url: str
) -> None:
    exists = await conn.run_sync(
        lambda sync: sa.inspect(sync).has_table(table.name, schema=table.schema)
    )
    await conn.rollback()  # end the transaction the inspection began
    if not exists:
        dialect = conn.dialect.name
        raise ConfigurationError(
            f"outbox table {table.name!r} does not exist in the database at {url}; create it "
            f"(`cqrs-worker outbox ddl --dialect {dialect} --table {table.name}` prints the "
            f"DDL) or name the right table"
        )
    user = conn.engine.url.username or "the current user"
    nothing = sa.false()
    probes = {
        "SELECT": sa.select(*table.c).where(nothing),
        "UPDATE": sa.update(table).where(nothing).values(status=table.c.status),
        "DELETE": sa.delete(table).where(nothing),
    }
    for privilege in privileges:
        transaction = await conn.begin()
        try:
            await conn.execute(probes[privilege])
        except DBAPIError as exc:
            raise ConfigurationError(
                f"cannot {privilege} outbox table {table.name!r} as {user} at {url}: "
                f"{_reason(exc)}; grant {', '.join(privileges)} on it, or fix its columns "
                f"(`cqrs-worker outbox ddl`)"
            ) from None
        finally:
            await transaction.rollback()


class StartedBroker:
    """The producer's broker, started by :func:`start_broker`; its first ``start()`` is a no-op.

    ``EventProducer.run()`` starts its broker itself; started twice, a Kafka
    producer would leak its first connection. Counts failed publishes, so
    ``relay --once`` knows whether anything failed.
    """

    def __init__(self, inner: MessageBroker) -> None:
        self.inner = inner
        self.failed_publishes = 0
        self._started = True

    async def start(self) -> None:
        if self._started:
            self._started = False  # a later start (after close) is real
            return
        await self.inner.start()

    async def publish(self, messages: Sequence[OutgoingMessage], /) -> None:
        try:
            await self.inner.publish(messages)
        except PublishError:
            self.failed_publishes += 1
            raise

    async def close(self) -> None:
        self._started = False
        await self.inner.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def start_broker(
    broker: MessageBroker, *, where: str = "the EventProducer's broker"
) -> StartedBroker:
    """Start ``broker``; if it cannot connect, one line saying so."""
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT * 2):
            with quiet_clients():
                await broker.start()
    except TimeoutError:
        raise ConfigurationError(
            f"{where} did not connect within {CONNECT_TIMEOUT * 2:.0f}s; check its address "
            f"and that it is up"
        ) from None
    except PublishError as exc:
        raise ConfigurationError(f"{where} cannot connect: {exc}") from None
    # Named after the broker it wraps: the relay logs its broker's type name.
    named: type[StartedBroker] = type(
        type(broker).__name__, (StartedBroker,), {"__module__": __name__}
    )
    return named(broker)


@contextlib.contextmanager
def quiet_clients(while_: Callable[[], bool] = lambda: True) -> Iterator[None]:
    """Hide the broker clients' own log lines while ``while_()`` holds (start-up).

    The clients log each failed connection attempt themselves; a failed start
    is reported once, by the ConfigurationError, so their lines are noise
    then. At DEBUG level nothing is hidden.
    """
    quiet = _ClientFilter(while_)
    handlers = list(logging.getLogger().handlers)
    for handler in handlers:
        handler.addFilter(quiet)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(quiet)


class _ClientFilter(logging.Filter):
    def __init__(self, while_: Callable[[], bool]) -> None:
        super().__init__()
        self._while = while_

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.partition(".")[0] not in _CLIENT_LOGGERS:
            return True
        return logging.getLogger().level <= logging.DEBUG or not self._while()


def _reason(exc: BaseException) -> str:
    """The driver's own words, one line, without SQLAlchemy's wrapping."""
    cause = getattr(exc, "orig", None) or exc
    text = _DRIVER_CLASS.sub("", str(cause)).strip().splitlines()
    return text[0] if text else type(cause).__name__

"""The database goes away mid-run (issue 9, finding 2): the relay rides it out, nothing is lost.

The relay reaches PostgreSQL (asyncpg) or MariaDB (asyncmy) through a TCP
proxy that aborts every connection and resets new ones while cut; the test
writes rows directly. Before the fix the relay's task ended with a plain
``ConnectionError`` (asyncpg) or asyncmy's own ``OperationalError``, neither
a SQLAlchemy error, and rows stayed pending.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from cqrs_worker.brokers import InMemoryBroker
from cqrs_worker.outbox import EventProducer, OutboxRepository, RelaySettings, outbox_table
from tests.integration.outbox.conftest import database_url, step
from tests.support.names import unique_name
from tests.support.net import LOOPBACK
from tests.support.proxy import TcpProxy
from tests.support.waiting import async_wait_until

SETTINGS = RelaySettings(
    batch_size=50,
    retry_delay=0.1,
    max_retry_delay=0.5,
    idle_delay=0.01,
    max_idle_delay=0.1,
    retention_interval=0.1,  # the retention task meets the outage too
)


def via_proxy(url: str, proxy: TcpProxy) -> str:
    parts = urlsplit(url)
    netloc = f"{parts.username}@{proxy.address}" if parts.username else proxy.address
    return urlunsplit(parts._replace(netloc=netloc))


@pytest.mark.timeout(90)
@pytest.mark.parametrize("kind", ["postgres", "mariadb"])
async def test_relay_rides_out_a_cut_database_connection(
    kind: str,
    request: pytest.FixtureRequest,
    make_tcp_proxy: Callable[[str, int], TcpProxy],
    tmp_path: Path,
) -> None:
    url = database_url(request, kind, tmp_path)
    parts = urlsplit(url)
    proxy = make_tcp_proxy(parts.hostname or LOOPBACK, parts.port or 5432)
    metadata = sa.MetaData()
    table = outbox_table(metadata, name=unique_name("outbox").replace("-", "_")[:40])
    repository = OutboxRepository(table)
    direct = create_async_engine(url)
    relay_engine = create_async_engine(via_proxy(url, proxy))
    broker = InMemoryBroker()
    async with direct.begin() as conn:
        await conn.run_sync(metadata.create_all)
    producer = EventProducer(relay_engine, broker, repository=repository, settings=SETTINGS)
    stop = asyncio.Event()
    running = asyncio.create_task(producer.run(stop))
    events = [step("steps", f"k{n % 7}", n) for n in range(300)]
    try:
        async with direct.begin() as conn:
            await repository.add_many(conn, events[:100])
        await async_wait_until(lambda: broker.published_count() >= 100, timeout=30)
        proxy.cut()
        async with direct.begin() as conn:
            await repository.add_many(conn, events[100:200])
        await asyncio.sleep(3.0)  # the outage lasts: the relay keeps trying meanwhile
        assert not running.done(), f"the relay stopped: {running}"
        assert "database" in producer.readiness.problems()
        proxy.restore()
        async with direct.begin() as conn:
            await repository.add_many(conn, events[200:])
        await async_wait_until(
            lambda: broker.published_count() >= 300 or running.done(),
            timeout=30,
            message=lambda: f"{broker.published_count()} of 300 published",
        )
        assert not running.done(), f"the relay stopped: {running}"
        await async_wait_until(lambda: producer.readiness.check() is None, timeout=30)
    finally:
        stop.set()
        async with asyncio.timeout(30):
            await asyncio.gather(running, return_exceptions=True)
        async with direct.begin() as conn:
            await conn.run_sync(metadata.drop_all)
        await direct.dispose()
        await relay_engine.dispose()
    published = {m.headers["event_id"] for m in broker.messages()}
    assert published == {str(e.event_id) for e in events}

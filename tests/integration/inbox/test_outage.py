"""The database unreachable: deliveries wait for it, unacknowledged, spending no attempt."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from tests.integration.inbox.test_unit_of_work import suffix
from tests.support.proxy import TcpProxy
from tests.unit.inbox.scenario import harness, joined


@pytest.mark.parametrize("batch_size", [1, 50])
async def test_an_outage_delays_deliveries_and_dead_letters_none(
    postgres_url: str, make_tcp_proxy: Callable[[str, int], TcpProxy], batch_size: int
) -> None:
    parts = urlsplit(postgres_url)
    proxy = make_tcp_proxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    netloc = f"{parts.username}@{proxy.address}" if parts.username else proxy.address
    engine = create_async_engine(urlunsplit(parts._replace(netloc=netloc)), pool_pre_ping=True)
    try:
        async with harness(engine, suffix(), max_attempts=2, batch_size=batch_size) as h:
            h.put(joined("before"))
            await h.source.wait_acked(1, timeout=30)

            proxy.cut()
            for i in range(5):
                h.put(joined(f"during-{i}"))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            while h.unit_of_work.waiting < 5:
                assert loop.time() < deadline, "every delivery waits for the database"
                await asyncio.sleep(0.05)  # the poll interval of a condition with a deadline
            assert len(h.source.acked) == 1
            assert h.unit_of_work.readiness() is not None
            proxy.restore()

            await h.source.wait_acked(6, timeout=60)
            assert h.stats.dead_lettered == 0
            assert h.stats.retried == 0, "waiting for the database spends no attempt"
            assert await h.count(h.tables.participants) == 6
            assert await h.count(h.tables.outbox) == 6
            assert h.unit_of_work.readiness() is None
    finally:
        await engine.dispose()

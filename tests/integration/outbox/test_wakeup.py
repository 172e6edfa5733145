"""LISTEN survives a database outage: the lost listening connection is opened again."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from cqrs_worker.outbox.wakeup import Wakeup
from tests.integration.outbox.test_database_outage import via_proxy
from tests.support.names import unique_name
from tests.support.net import LOOPBACK
from tests.support.proxy import TcpProxy
from tests.support.waiting import async_wait_until


async def test_a_listen_lost_in_an_outage_is_restored_and_wakes_the_pause(
    postgres_url: str, make_tcp_proxy: Callable[[str, int], TcpProxy]
) -> None:
    parts = urlsplit(postgres_url)
    proxy = make_tcp_proxy(parts.hostname or LOOPBACK, parts.port or 5432)
    channel = unique_name("wake").replace("-", "_")
    listening_engine = create_async_engine(via_proxy(postgres_url, proxy))
    direct = create_async_engine(postgres_url)
    wakeup = Wakeup()

    def listening() -> bool:  # a call, so the checks below are not narrowed away
        return wakeup.listening

    try:
        await wakeup.listen(listening_engine, channel)
        assert listening()
        proxy.cut()
        await async_wait_until(lambda: not listening(), timeout=10)
        await wakeup.relisten()  # still cut: fails, polling goes on
        assert not listening()
        proxy.restore()
        await wakeup.relisten()  # within the pause after a failed try: not yet
        assert not listening()
        wakeup._failed_at = float("-inf")  # skip the 10 s pause between tries
        await wakeup.relisten()
        assert listening()
        async with direct.begin() as conn:
            await conn.execute(sa.text(f"NOTIFY {channel}"))
        started = time.monotonic()
        await wakeup.pause(60)
        assert time.monotonic() - started < 30, "the NOTIFY did not end the pause"
    finally:
        await wakeup.close()
        await listening_engine.dispose()
        await direct.dispose()

"""RabbitSource when RabbitMQ is unreachable: at start-up, and mid-run (a TCP proxy cuts it).

The shared RabbitMQ is never restarted (other suites use it); cutting every
connection through a proxy looks the same to the client.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import aio_pika
import aio_pika.abc
import pytest

from cqrs_worker.errors import ConfigurationError
from tests.integration.worker.rabbitmq.harness import RabbitWorld
from tests.integration.worker.rabbitmq.test_source import running
from tests.support.net import LOOPBACK, free_port
from tests.support.proxy import TcpProxy
from tests.support.waiting import async_wait_until


def _through(url: str, proxy: TcpProxy) -> str:
    parts = urlsplit(url)
    credentials = parts.netloc.rpartition("@")[0]
    return parts._replace(netloc=f"{credentials}@{proxy.address}").geturl()


@pytest.fixture
def proxied(
    world: RabbitWorld, make_tcp_proxy: Callable[[str, int], TcpProxy]
) -> tuple[str, TcpProxy]:
    parts = urlsplit(world.url)
    proxy = make_tcp_proxy(parts.hostname or LOOPBACK, parts.port or 5672)
    return _through(world.url, proxy), proxy


async def _ignore(message: aio_pika.abc.AbstractIncomingMessage) -> None:
    """An exclusive consumer that takes messages and never acks them."""


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never says a word (no AMQP handshake)."""
    server = socket.create_server((LOOPBACK, 0))
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


async def test_an_unreachable_broker_fails_start_up_saying_what_to_check(
    world: RabbitWorld,
) -> None:
    source = world.source(url=f"amqp://guest:secret@{LOOPBACK}:{free_port()}/")
    started = time.monotonic()

    with pytest.raises(
        ConfigurationError, match=r"check the URL \(CQRS_WORKER_RABBITMQ_URL"
    ) as info:
        await source.start()

    assert time.monotonic() - started < 5
    assert "secret" not in str(info.value)
    assert not source.ready()


async def test_a_broker_that_never_answers_fails_start_up_within_the_timeout(
    world: RabbitWorld, silent_server: int
) -> None:
    source = world.source(url=f"amqp://guest:guest@{LOOPBACK}:{silent_server}/", connect_timeout=1)
    started = time.monotonic()

    with pytest.raises(ConfigurationError, match=r"did not answer within 1s"):
        await source.start()

    assert time.monotonic() - started < 3


async def test_wrong_credentials_fail_start_up_naming_them(world: RabbitWorld) -> None:
    parts = urlsplit(world.url)
    url = parts._replace(netloc=f"guest:wrong-password@{parts.hostname}:{parts.port or 5672}")
    source = world.source(url=url.geturl())

    with pytest.raises(ConfigurationError, match="check the user and password"):
        await source.start()


async def test_a_queue_declared_differently_is_named_at_start_up(world: RabbitWorld) -> None:
    connection = await aio_pika.connect(world.url)
    channel = await connection.channel()
    await channel.declare_queue(world.queue, durable=False)
    await connection.close()

    with pytest.raises(
        ConfigurationError, match=rf"declare the queue '{world.queue}'.*other settings"
    ):
        await world.source().start()


async def test_a_queue_consumed_exclusively_elsewhere_is_named_at_start_up(
    world: RabbitWorld,
) -> None:
    first = world.source()
    await first.start()
    await first.stop(1)
    channel = await world.channel()
    queue = await channel.get_queue(world.queue)
    await queue.consume(_ignore, exclusive=True)

    with pytest.raises(ConfigurationError, match=rf"consume the queue '{world.queue}'.*exclusive"):
        await world.source().start()
    await channel.close()


async def test_a_cut_connection_makes_it_unready_then_it_recovers_and_loses_nothing(
    world: RabbitWorld, proxied: tuple[str, TcpProxy]
) -> None:
    url, proxy = proxied
    events = [world.event(f"k{i % 16}", i // 16) for i in range(1000)]
    world.journal.delay = 0.02  # 16 keys: ~800 events/s, so the cut lands mid-run
    source = world.source(url=url, reconnect_interval=0.2, concurrency=32)

    async with running(source):
        assert source.ready()
        await world.publish(events)  # straight to RabbitMQ, not through the proxy
        await async_wait_until(lambda: len(world.journal.handled) >= 300, timeout=30)

        proxy.cut()
        await async_wait_until(lambda: not source.ready(), timeout=5, message="still ready")
        proxy.restore()
        await async_wait_until(source.ready, timeout=15, message="never ready again")

        await async_wait_until(
            lambda: world.journal.ids() >= {str(e.event_id) for e in events},
            timeout=30,
            message=lambda: f"{len(world.journal.ids())} of {len(events)} handled",
        )

    assert proxy.total_connections >= 2, "the source reconnected through the proxy"
    assert await world.ready_count() == 0, "every delivery acked in the end"
    for key, seqs in world.journal.by_key().items():
        # Redeliveries after the cut may repeat events, but first sights stay in key order.
        expected = list(range(1000 // 16 + (int(key[1:]) < 1000 % 16)))
        assert list(dict.fromkeys(seqs)) == expected

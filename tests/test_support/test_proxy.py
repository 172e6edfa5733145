"""The TCP proxy forwards, cuts and restores traffic, also a Kafka client's."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest
from aiokafka import (  # type: ignore[import-untyped, unused-ignore]
    AIOKafkaConsumer,
    AIOKafkaProducer,
    TopicPartition,
)
from aiokafka.errors import KafkaConnectionError  # type: ignore[import-untyped, unused-ignore]

from tests.support.kafka import create_topic, probe_kafka
from tests.support.net import LOOPBACK, parse_host_port
from tests.support.proxy import ProxiedTansu, TcpProxy
from tests.support.waiting import async_wait_until


@contextlib.asynccontextmanager
async def _echo_server() -> AsyncIterator[int]:
    handlers: set[asyncio.Task[None]] = set()
    writers: set[asyncio.StreamWriter] = set()

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        writers.add(writer)
        try:
            with contextlib.suppress(ConnectionError):
                while data := await reader.read(1024):
                    writer.write(data)
                    await writer.drain()
        finally:
            writer.close()
            writers.discard(writer)

    server = await asyncio.start_server(echo, LOOPBACK, 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        for writer in list(writers):
            writer.transport.abort()
        if pending := [task for task in handlers if not task.done()]:
            await asyncio.wait(pending, timeout=5.0)
        await server.wait_closed()


async def _roundtrip(port: int, payload: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(LOOPBACK, port)
    try:
        writer.write(payload)
        await writer.drain()
        return await asyncio.wait_for(reader.readexactly(len(payload)), 5.0)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def test_proxy_forwards_cuts_and_restores(
    make_tcp_proxy: Callable[[str, int], TcpProxy],
) -> None:
    async with _echo_server() as port:
        proxy = make_tcp_proxy(LOOPBACK, port)
        assert await _roundtrip(proxy.port, b"hello") == b"hello"

        reader, writer = await asyncio.open_connection(LOOPBACK, proxy.port)
        writer.write(b"ping")
        assert await asyncio.wait_for(reader.readexactly(4), 5.0) == b"ping"
        assert proxy.active_connections == 1

        proxy.cut()
        assert proxy.is_cut
        assert proxy.active_connections == 0
        # The live connection is gone...
        with contextlib.suppress(ConnectionError):
            assert await asyncio.wait_for(reader.read(), 5.0) == b""
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
        # ...and new ones are reset.
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            await _roundtrip(proxy.port, b"refused")
        assert proxy.refused_connections >= 1

        proxy.restore()
        assert await _roundtrip(proxy.port, b"back") == b"back"
        assert proxy.total_connections == 3


async def test_kafka_traffic_is_cut_and_restored(
    kafka_via_proxy: ProxiedTansu, topic_name: str
) -> None:
    kafka, proxy = kafka_via_proxy, kafka_via_proxy.proxy
    # The broker advertises the proxy, so every later connection goes through it too.
    info = probe_kafka(*parse_host_port(kafka.bootstrap))
    assert [broker.address for broker in info.brokers] == [kafka.bootstrap]
    assert kafka.broker.bootstrap != kafka.bootstrap

    await create_topic(kafka.bootstrap, topic_name, partitions=1)
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, request_timeout_ms=20_000)
    await producer.start()
    try:
        await producer.send_and_wait(topic_name, b"before")
        assert proxy.active_connections >= 1

        proxy.cut()
        assert proxy.active_connections == 0
        # A new client cannot even bootstrap...
        fresh = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, request_timeout_ms=1000)
        try:
            with pytest.raises(KafkaConnectionError):
                await fresh.start()
        finally:
            await fresh.stop()
        # ...and the running producer cannot deliver: it keeps being reset.
        refused = proxy.refused_connections
        pending = await producer.send(topic_name, b"during")
        await async_wait_until(
            lambda: proxy.refused_connections > refused + 1,
            timeout=10.0,
            message="the producer never tried to reconnect",
        )
        assert not pending.done()

        proxy.restore()
        await asyncio.wait_for(pending, 15.0)
        await producer.send_and_wait(topic_name, b"after")
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partition = TopicPartition(topic_name, 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        values: list[bytes] = []
        async with asyncio.timeout(10.0):
            while len(values) < 3:
                batch = await consumer.getmany(partition, timeout_ms=200)
                values += [message.value for message in batch.get(partition, [])]
    finally:
        await consumer.stop()
    assert values == [b"before", b"during", b"after"]

"""RabbitSource on a real RabbitMQ: order per key, batched acks, dead letters, shutdown."""

from __future__ import annotations

import asyncio
import datetime
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import orjson
import pytest

from cqrs_worker.errors import ConfigurationError
from cqrs_worker.worker.rabbitmq import RabbitSource
from tests.integration.worker.rabbitmq.harness import WORKER_ID, RabbitWorld
from tests.support.waiting import async_wait_until


@asynccontextmanager
async def running(source: RabbitSource, *, stop_timeout: float = 5.0) -> AsyncIterator[None]:
    await source.start()
    task = asyncio.create_task(source.run())
    try:
        yield
    finally:
        await source.stop(stop_timeout)
        await asyncio.wait_for(task, 5)


async def test_every_event_is_handled_once_in_order_per_key_and_acked(world: RabbitWorld) -> None:
    keys = [f"k{i}" for i in range(16)]
    events = [world.event(key, seq) for seq in range(40) for key in keys]
    source = world.source(concurrency=32, prefetch=256)
    world.journal.delay = 0.0005

    async with running(source):
        assert source.ready()
        await world.publish(events)
        await async_wait_until(
            lambda: len(world.journal.handled) >= len(events),
            timeout=30,
            message=lambda: f"handled {len(world.journal.handled)} of {len(events)}",
        )

    assert not source.ready()
    assert world.journal.by_key() == {key: list(range(40)) for key in keys}
    assert world.stats.received == len(events)
    assert world.stats.handled == len(events)
    assert await world.ready_count() == 0, "every delivery acked before the channel closed"
    assert await world.ready_count(world.dlq) == 0


async def test_keys_run_concurrently_while_one_key_waits(world: RabbitWorld) -> None:
    gate = asyncio.Event()
    world.journal.gates["slow"] = gate
    source = world.source(concurrency=8)

    async with running(source):
        await world.publish([world.event("slow", 0), world.event("slow", 1)])
        await world.publish([world.event("fast", seq) for seq in range(20)])
        await async_wait_until(lambda: len(world.journal.handled) == 20, timeout=10)
        assert [e.payload.key for e in world.journal.handled] == ["fast"] * 20
        gate.set()
        await async_wait_until(lambda: len(world.journal.handled) == 22, timeout=10)

    assert world.journal.by_key()["slow"] == [0, 1]
    assert await world.ready_count() == 0


async def test_deliveries_finished_behind_an_unfinished_one_are_acked_on_their_own(
    world: RabbitWorld,
) -> None:
    # A multiple ack may not pass "slow" #0; the ones finished after it are acked one by
    # one (so that they do not fill the prefetch window), and only "slow" comes back.
    gate = asyncio.Event()  # never set: "slow" #0 never finishes
    world.journal.gates["slow"] = gate
    source = world.source(ack_batch=1, ack_interval=0.01)
    before = [world.event("before", seq) for seq in range(10)]
    after = [world.event(f"after{seq}", 0) for seq in range(10)]

    async with running(source, stop_timeout=0.2):
        await world.publish(before)
        await async_wait_until(lambda: len(world.journal.handled) == 10, timeout=10)
        await world.publish([world.event("slow", 0), *after])
        await async_wait_until(lambda: len(world.journal.handled) == 20, timeout=10)

    # Closing the channel requeued what was not acked: "slow" alone.
    redelivered = await world.drain(expect=11, timeout=3)
    assert [orjson.loads(m.body)["payload"]["key"] for m in redelivered] == ["slow"]
    assert all(m.redelivered for m in redelivered)
    assert await world.ready_count() == 0


async def test_graceful_stop_acks_what_finished_and_leaves_the_rest(world: RabbitWorld) -> None:
    gate = asyncio.Event()
    world.journal.gates["k0"] = gate
    world.journal.gate_from["k0"] = 5
    keys = [f"k{i}" for i in range(8)]
    events = [world.event(key, seq) for seq in range(25) for key in keys]  # 200 in flight
    source = world.source(concurrency=16, prefetch=256)

    async with running(source, stop_timeout=0.5):
        await world.publish(events)
        await async_wait_until(lambda: len(world.journal.handled) == 180, timeout=20)

    finished = world.journal.ids()
    assert {e.payload.seq for e in world.journal.handled if e.payload.key == "k0"} == set(range(5))
    leftover = await world.drain(expect=await world.ready_count())
    redelivered = {orjson.loads(m.body)["event_id"] for m in leftover}
    everything = {str(e.event_id) for e in events}
    assert redelivered | finished == everything, "nothing lost"
    assert {str(e.event_id) for e in events if e.payload.key == "k0" and e.payload.seq >= 5} <= (
        redelivered
    ), "nothing unfinished was acked"
    assert all(m.redelivered for m in leftover)


async def test_a_failing_handler_is_retried_then_dead_lettered_with_every_header(
    world: RabbitWorld,
) -> None:
    world.journal.failing.add("bad")
    source = world.source(max_attempts=3)
    event = world.event("bad", 7)

    async with running(source):
        await world.publish([event, world.event("good", 0)])
        await async_wait_until(lambda: world.stats.dead_lettered == 1, timeout=10)
        await async_wait_until(lambda: len(world.journal.handled) == 1, timeout=10)

    (dead,) = await world.drain(world.dlq, expect=1)
    headers = dead.headers
    assert dead.body == orjson.dumps(orjson.loads(dead.body))  # the original bytes
    assert orjson.loads(dead.body)["event_id"] == str(event.event_id)
    assert headers["event_name"] == "Numbered"
    assert headers["event_id"] == str(event.event_id)
    assert headers["partition_key"] == "bad"
    assert headers["x-dlq-reason"] == "handler-failed"
    assert headers["x-dlq-exception-type"] == (
        "tests.integration.worker.rabbitmq.harness.HandlerFailed"
    )
    assert headers["x-dlq-exception-message"] == "bad #7 fails on purpose"
    assert headers["x-dlq-attempts"] == "3"
    first = datetime.datetime.fromisoformat(str(headers["x-dlq-first-failure-at"]))
    last = datetime.datetime.fromisoformat(str(headers["x-dlq-last-failure-at"]))
    assert first < last
    assert headers["x-dlq-worker-id"] == WORKER_ID
    assert headers["x-dlq-original-queue"] == world.queue
    assert headers["x-dlq-original-exchange"] == world.exchange
    assert headers["x-dlq-original-routing-key"] == world.topic
    assert dead.message_id == str(event.event_id)
    assert dead.content_type == "application/json"
    assert dead.delivery_mode == 2
    assert world.stats.retried == 2
    assert await world.ready_count() == 0


async def test_a_malformed_message_is_dead_lettered_at_once(world: RabbitWorld) -> None:
    source = world.source(max_attempts=5)

    async with running(source):
        await world.publish_raw(b"{not json", {"event_name": "Numbered", "trace": 42})
        await async_wait_until(lambda: world.stats.dead_lettered == 1, timeout=10)

    (dead,) = await world.drain(world.dlq, expect=1)
    assert dead.body == b"{not json"
    assert dead.headers["x-dlq-reason"] == "not-json"
    assert dead.headers["x-dlq-attempts"] == "0"
    assert dead.headers["trace"] == 42
    assert world.stats.retried == 0
    assert await world.ready_count() == 0


async def test_an_event_nobody_handles_is_acked_and_counted(world: RabbitWorld) -> None:
    source = world.source()
    body = orjson.dumps(
        {
            "event_id": "5b0c4a3e-6f0e-4a55-9d5a-0d9f8f8b7c11",
            "event_name": "SomethingElse",
            "event_timestamp": "2026-01-01T00:00:00+00:00",
            "topic": world.topic,
            "payload": {},
        }
    )

    async with running(source):
        await world.publish_raw(body, {"event_name": "SomethingElse"})
        await async_wait_until(lambda: world.stats.unknown == 1, timeout=10)

    assert world.stats.dead_lettered == 0
    assert await world.ready_count() == 0
    assert await world.ready_count(world.dlq) == 0


async def test_unkeyed_deliveries_keep_queue_order_by_default(world: RabbitWorld) -> None:
    source = world.source(concurrency=16)
    events = [world.event(f"k{seq % 4}", seq) for seq in range(60)]
    random.shuffle(events)

    async with running(source):
        for event in events:
            body = orjson.dumps(event.model_dump(mode="json"))
            await world.publish_raw(body, {"event_name": "Numbered"})  # no partition_key header
        await async_wait_until(lambda: len(world.journal.handled) == 60, timeout=10)

    assert [e.event_id for e in world.journal.handled] == [e.event_id for e in events]


async def test_a_deleted_queue_stops_the_source_with_a_clear_error(world: RabbitWorld) -> None:
    source = world.source()
    await source.start()
    run = asyncio.create_task(source.run())
    assert source.ready()

    channel = await world.channel()
    await channel.queue_delete(world.queue)
    await channel.close()

    with pytest.raises(
        ConfigurationError, match=rf"cancelled the consumer of queue '{world.queue}'"
    ):
        await asyncio.wait_for(run, 10)
    assert not source.ready()
    await source.stop(1)


async def test_an_unroutable_dead_letter_keeps_the_original_until_it_can_be_routed(
    world: RabbitWorld, caplog: pytest.LogCaptureFixture
) -> None:
    source = world.source()

    async with running(source):
        channel = await world.channel()
        dlq = await channel.get_queue(world.dlq)
        await dlq.unbind(world.dead_letter_exchange, routing_key=world.queue)
        await world.publish_raw(b"\xff not utf-8", {"event_name": "Numbered"})
        await async_wait_until(lambda: "dead-letter publish failed" in caplog.text, timeout=10)
        assert world.stats.dead_lettered == 0
        await dlq.bind(world.dead_letter_exchange, routing_key=world.queue)
        await channel.close()
        await async_wait_until(lambda: world.stats.dead_lettered == 1, timeout=10)

    (dead,) = await world.drain(world.dlq, expect=1)
    assert dead.body == b"\xff not utf-8"
    assert "NO_ROUTE" in caplog.text
    assert await world.ready_count() == 0

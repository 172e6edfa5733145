"""Delayed retry stages on RabbitMQ (TTL delay queues), with a real ``cqrs-worker run``.

Two in-place attempts per stage, then the delay queue ``<queue>.retry.1s``,
then ``<queue>.retry.2s``, then ``<queue>.dlq``. RabbitMQ's TTL moves each
message back to the queue; the delays are measured on the worker's clock.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from cqrs_worker.brokers import AMQPMessageBroker, OutgoingMessage
from tests.integration.worker.delayed_app import (
    SETTINGS,
    JobPlaced,
    assert_stages_kept_time_and_order_let_go,
    handled,
    job,
)
from tests.integration.worker.rabbitmq.harness import RabbitWorld
from tests.support.names import unique_name
from tests.support.processes import ProcessSet
from tests.support.waiting import async_wait_until

pytestmark = pytest.mark.timeout(150)


async def delete_delay_queues(world: RabbitWorld) -> None:
    with contextlib.suppress(Exception):
        channel = await world.channel()
        for label in ("1s", "2s"):
            await channel.queue_delete(f"{world.queue}.retry.{label}")
        await channel.close()


async def test_a_failing_job_waits_in_delay_queues_while_the_rest_flows_then_dead_letters(
    world: RabbitWorld, processes: ProcessSet
) -> None:
    group = unique_name("shop")
    topic = world.topic
    world.queue = f"{group}.{topic}"  # what the settings derive; deleted at the end
    worker = processes.start_python(
        [
            "-m",
            "cqrs_worker.cli",
            "run",
            "tests.integration.worker.delayed_app:mediator",
            "--factory",
            "--rabbitmq-url",
            world.url,
            "--rabbitmq-exchange",
            world.exchange,
            "--group-id",
            group,
            "--topics",
            topic,
        ],
        name="worker",
        env=SETTINGS,
    )
    # One publisher for the whole test: the jobs published during a stage's delay
    # go out at once, not after a connection's start-up.
    broker = AMQPMessageBroker(world.url, exchange=world.exchange)

    async def publish(events: list[JobPlaced]) -> None:
        await broker.publish([OutgoingMessage.from_event(event) for event in events])

    try:
        await worker.await_line("running: sources rabbitmq", timeout=60)
        await broker.start()  # the exchange exists now
        assert await world.ready_count(f"{world.queue}.retry.1s") == 0  # declared at start

        # Job 1 fails twice in place, then succeeds after the 1 s stage. Jobs 2
        # (same key, after it in the queue) and 3 do not wait for it. Job 99 always fails.
        await publish(
            [
                job(topic, 1, key="a", fail=2),
                job(topic, 2, key="a"),
                job(topic, 3, key="b"),
                job(topic, 99, key="z", fail=-1),
            ],
        )
        # While job 99 waits in the 2 s delay queue, new jobs of its key and others flow.
        await worker.await_line(r"moving JobPlaced to retry stage 2 \(2s\) after 4 attempt", 60)
        await publish([job(topic, 4, key="z"), job(topic, 5, key="a")])
        await worker.await_line("dead-lettering JobPlaced after 6 attempt", timeout=60)
        await async_wait_until(
            lambda: {1, 2, 3, 4, 5} <= set(handled(worker.output())),
            timeout=30,
            message="every other job handled",
        )
        [dead] = await world.drain(world.dlq, expect=1)
        worker.terminate()
        assert await worker.wait_async(30) == 0
    finally:
        await broker.close()
        await delete_delay_queues(world)

    output = worker.output()
    print("measured:", assert_stages_kept_time_and_order_let_go(output))

    headers: dict[str, Any] = {
        k: v.decode() if isinstance(v, bytes) else v for k, v in dead.headers.items()
    }
    assert headers["x-dlq-reason"] == "handler-failed"
    assert headers["x-dlq-attempts"] == "6"
    assert headers["x-dlq-retry-stages"] == "1s,2s"
    assert headers["x-dlq-original-queue"] == world.queue
    assert headers["x-dlq-original-exchange"] == world.exchange
    assert headers["x-dlq-original-routing-key"] == topic
    assert not [name for name in headers if name.startswith("x-retry-")]  # a replay starts over
    # RabbitMQ's own record of the last expiry only: the stage copies drop the earlier ones.
    assert [str(death["queue"]) for death in headers["x-death"]] == [f"{world.queue}.retry.2s"]
    assert b'"n":99' in dead.body
    assert "worker stopped; stats: received=9, handled=5, retried=4, dead_lettered=1" in output
    assert "moved=3" in output

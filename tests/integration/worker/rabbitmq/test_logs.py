"""``cqrs-worker run --log-format json`` on RabbitMQ: python-cqrs envelopes, a failing handler."""

from __future__ import annotations

import aio_pika
from cqrs.serializers.default import default_serializer

from tests.integration.worker.logs_app import (
    FAILING,
    GOOD,
    assert_lines_name_the_message,
    assert_stacktrace,
    run_until_dead_lettered,
    start_worker,
    their_event,
)
from tests.integration.worker.rabbitmq.harness import RabbitWorld
from tests.support.names import unique_name
from tests.support.processes import ProcessSet


async def test_rabbitmq_worker_json_lines_name_the_message_and_log_the_traceback_once(
    world: RabbitWorld, processes: ProcessSet
) -> None:
    group = unique_name("shop")
    world.queue = f"{group}.{world.topic}"  # what the settings derive; deleted at the end
    worker = start_worker(
        processes,
        "--rabbitmq-url",
        world.url,
        "--rabbitmq-exchange",
        world.exchange,
        "--group-id",
        group,
        "--topics",
        world.topic,
        env={},
    )
    await worker.await_line("running: sources rabbitmq", timeout=60)
    failing = their_event(FAILING, fail=True)
    channel = await world.channel()
    exchange = await channel.get_exchange(world.exchange)
    for event in (failing, their_event(GOOD, fail=False)):
        await exchange.publish(
            aio_pika.Message(bytes(default_serializer(event)), headers={}),
            routing_key=world.topic,
        )
    await channel.close()

    entries = await run_until_dead_lettered(worker)

    assert_lines_name_the_message(
        entries, failing.event_id, {"queue": world.queue, "routing_key": world.topic}
    )
    [dead] = await world.drain(world.dlq, expect=1)
    assert dead.headers is not None
    assert_stacktrace(str(dead.headers["x-dlq-exception-stacktrace"]))

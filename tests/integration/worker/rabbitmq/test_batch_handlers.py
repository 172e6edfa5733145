"""Batch handlers in a real ``cqrs-worker run`` process on RabbitMQ: every event handled
exactly once, a poison event dead-lettered alone, batches received, every message acked."""

from __future__ import annotations

from pathlib import Path

from cqrs_worker.brokers import AMQPMessageBroker, OutgoingMessage
from tests.integration.worker.batch_rig import EVENTS, check_exactly_once, events, start, wait_done
from tests.integration.worker.rabbitmq.harness import RabbitWorld
from tests.support.names import unique_name
from tests.support.processes import ProcessSet


async def test_rabbitmq_batches_handle_each_event_once_and_ack_everything(
    world: RabbitWorld, processes: ProcessSet, tmp_path: Path
) -> None:
    group = unique_name("batches")
    world.queue = f"{group}.{world.topic}"  # what the settings derive; deleted at the end
    out = tmp_path / "handled.txt"
    worker = start(
        processes,
        out,
        {
            "CQRS_WORKER_RABBITMQ_URL": world.url,
            "CQRS_WORKER_RABBITMQ_EXCHANGE": world.exchange,
            "CQRS_WORKER_GROUP_ID": group,
            "CQRS_WORKER_TOPICS": world.topic,
        },
    )
    await worker.await_line(r"running: sources rabbitmq", timeout=60)
    broker = AMQPMessageBroker(world.url, exchange=world.exchange)
    await broker.start()
    try:
        await broker.publish([OutgoingMessage.from_event(e) for e in events(world.topic)])
    finally:
        await broker.close()

    await wait_done(out, worker, EVENTS - 1, timeout=90)
    await worker.await_line("dead-lettering Counted", timeout=30)
    worker.terminate()

    assert await worker.wait_async(30) == 0
    check_exactly_once(out, worker.output(), split=False)
    assert await world.ready_count() == 0
    assert await world.ready_count(world.dlq) == 1

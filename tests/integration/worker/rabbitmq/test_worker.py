"""The Worker built from settings alone consumes RabbitMQ through RabbitSource.from_context."""

from __future__ import annotations

from cqrs_worker.worker.app import Worker
from cqrs_worker.worker.settings import WorkerSettings
from tests.integration.worker.rabbitmq.harness import RabbitWorld
from tests.support.names import unique_name
from tests.support.waiting import async_wait_until


async def test_a_worker_declares_its_queue_from_the_settings_and_handles_events(
    world: RabbitWorld,
) -> None:
    group = unique_name("billing")
    world.queue = f"{group}.{world.topic}"  # what the settings derive; deleted at the end
    settings = WorkerSettings(
        rabbitmq_url=world.url,
        rabbitmq_exchange=world.exchange,
        group_id=group,
        topics=(world.topic,),
        health_port=0,
        shutdown_timeout=5,
    )
    worker = Worker(world.mediator(), settings)

    async with worker.running():
        assert worker.readiness() is None
        await world.publish([world.event(f"k{i % 4}", i // 4) for i in range(40)])
        await async_wait_until(lambda: len(world.journal.handled) == 40, timeout=10)

    assert worker.stats.received == worker.stats.handled == 40
    assert await world.ready_count() == 0
    assert await world.ready_count(world.dlq) == 0

"""A real ``cqrs-worker run`` on RabbitMQ, scraped: exact counts, the unacknowledged
delivery of a hung handler, and its redelivery counted by the next worker."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from cqrs_worker.brokers import AMQPMessageBroker, OutgoingMessage
from tests.integration.observability.app import HANG, RUN
from tests.integration.observability.scrape import Samples, matching, scrape, value
from tests.integration.worker.rabbitmq.harness import RabbitWorld
from tests.support.names import unique_name
from tests.support.net import free_port
from tests.support.processes import ManagedProcess, ProcessSet
from tests.support.waiting import async_wait_until
from tests.unit.worker.sample import placed

NAME = "OrderPlaced"


@pytest.fixture
async def world(rabbitmq_url: str) -> AsyncIterator[RabbitWorld]:
    """Fresh exchange and queue names; deleted at the end."""
    rabbit = RabbitWorld(rabbitmq_url)
    try:
        yield rabbit
    finally:
        await rabbit.cleanup()


def start_worker(
    processes: ProcessSet, world: RabbitWorld, group: str, port: int, *, hang: bool, name: str
) -> ManagedProcess:
    return processes.start_python(
        [
            *RUN,
            *("--rabbitmq-url", world.url, "--rabbitmq-exchange", world.exchange),
            *("--group-id", group, "--topics", world.topic, "--health-port", str(port)),
            *["--health-host", "127.0.0.1", "--max-attempts", "3", "--shutdown-timeout", "1"],
            *["--retry-initial-delay", "0.01", "--retry-max-delay", "0.05"],
        ],
        name=name,
        env={"OBSERVED_APP_HANG": "1" if hang else "0"},
    )


def labels(**values: str) -> frozenset[tuple[str, str]]:
    return frozenset(values.items())


def finished(samples: Samples) -> float:
    return sum(matching(samples, "cqrs_worker_messages_total").values())


@pytest.mark.timeout(180)
async def test_a_rabbitmq_worker_counts_exactly_and_the_next_one_counts_the_redelivery(
    world: RabbitWorld, processes: ProcessSet
) -> None:
    group = unique_name("metrics")
    queue = world.queue = f"{group}.{world.topic}"  # what the settings derive; deleted at the end
    port = free_port()
    first = start_worker(processes, world, group, port, hang=True, name="worker-1")
    await first.await_line(rf"running: sources rabbitmq, topics {world.topic}", timeout=60)

    def on(event: object) -> OutgoingMessage:
        return OutgoingMessage.from_event(event.model_copy(update={"topic": world.topic}))  # type: ignore[attr-defined]

    broker = AMQPMessageBroker(world.url, exchange=world.exchange)
    await broker.start()
    await broker.publish(
        [on(placed(n, key=f"k{n % 3}")) for n in range(10)]
        + [on(placed(100 + n, key=f"f{n}", fail=1)) for n in range(2)]
        + [on(placed(200, key="d", fail=-1))]
    )
    await world.publish_raw(b"not json", {"event_name": NAME})
    await broker.publish([on(placed(HANG, key="hang"))])  # last: it holds back no other ack
    await broker.close()

    def settled() -> bool:
        _, samples = scrape(port)
        return (
            finished(samples) == 14
            and value(samples, "cqrs_worker_rabbitmq_unacked", queue=queue) == 1
        )

    await async_wait_until(settled, timeout=60, interval=0.2, message=lambda: str(scrape(port)))
    _, samples = scrape(port)

    assert value(samples, "cqrs_worker_messages_received_total", destination=queue) == 15
    assert matching(samples, "cqrs_worker_messages_total") == {
        labels(destination=queue, event_name=NAME, outcome="handled"): 12,
        labels(destination=queue, event_name=NAME, outcome="dead_lettered"): 2,
    }
    assert matching(samples, "cqrs_worker_dead_letters_total") == {
        labels(destination=queue, event_name=NAME, reason="handler-failed"): 1,
        labels(destination=queue, event_name=NAME, reason="not-json"): 1,
    }
    assert matching(samples, "cqrs_worker_retries_total") == {
        labels(destination=queue, event_name=NAME, reason="error"): 2 + 2,
    }
    assert value(samples, "cqrs_worker_in_flight") == 1
    assert matching(samples, "cqrs_worker_rabbitmq_redelivered_total") == {}
    assert value(samples, "cqrs_worker_ready", source="rabbitmq") == 1
    assert matching(samples, "cqrs_worker_consumer_lag") == {}

    first.terminate()  # the hung delivery is cancelled, never acked: RabbitMQ requeues it
    assert await first.wait_async(30) == 0
    port = free_port()
    second = start_worker(processes, world, group, port, hang=False, name="worker-2")
    await second.await_line(rf"running: sources rabbitmq, topics {world.topic}", timeout=60)
    await async_wait_until(lambda: finished(scrape(port)[1]) == 1, timeout=60, interval=0.2)
    _, samples = scrape(port)

    assert value(samples, "cqrs_worker_rabbitmq_redelivered_total", queue=queue) == 1
    assert value(samples, "cqrs_worker_messages_received_total", destination=queue) == 1
    assert matching(samples, "cqrs_worker_messages_total") == {
        labels(destination=queue, event_name=NAME, outcome="handled"): 1,
    }
    await async_wait_until(
        lambda: value(scrape(port)[1], "cqrs_worker_rabbitmq_unacked", queue=queue) == 0,
        timeout=10,
        interval=0.1,
    )

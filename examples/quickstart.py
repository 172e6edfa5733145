"""Quickstart: a worker handles events end to end, on a fresh machine.

Run from the repository root: ``./dev demo`` (or ``python -m examples.quickstart``).

1. starts a throwaway local Kafka-protocol broker (development only:
   :mod:`cqrs_worker.devtools`),
2. creates the ``quickstart.orders`` topic with 4 partitions,
3. publishes 20 ``OrderPlaced`` events, keyed by customer,
4. runs a :class:`~cqrs_worker.worker.app.Worker` that routes each message to
   ``PrintOrder`` by its event name and prints it (in order per customer),
5. stops the worker gracefully (commits, closes) and prints its counters.

In production the same worker runs as ``cqrs-worker run myapp:mediator``
with ``CQRS_WORKER_KAFKA_BOOTSTRAP`` and ``CQRS_WORKER_GROUP_ID`` set.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time

import pydantic

from cqrs_worker import (
    DefaultContainer,
    EventMap,
    EventMediator,
    NotificationEvent,
    bootstrap_events,
)
from cqrs_worker.brokers import KafkaMessageBroker, OutgoingMessage, kafka_producer_factory
from cqrs_worker.devtools import create_topics, embedded_kafka
from cqrs_worker.worker import Worker, WorkerSettings

TOPIC = "quickstart.orders"
EVENTS = 20
CUSTOMERS = ("ada", "grace", "linus", "barbara")


class Order(pydantic.BaseModel):
    order_id: int
    customer: str
    total_cents: int


class OrderPlaced(NotificationEvent[Order]):
    event_name: str = "OrderPlaced"
    topic: str = TOPIC


class Tally:
    """Counts handled orders; ``done`` is set once all of them were."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.count = 0
        self.done = asyncio.Event()


class PrintOrder:
    def __init__(self, tally: Tally) -> None:
        self.tally = tally

    async def handle(self, event: OrderPlaced) -> None:
        order = event.payload
        self.tally.count += 1
        print(
            f"  handled {event.event_name} #{order.order_id:>2} for {order.customer:<8}"
            f" {order.total_cents / 100:>7.2f} EUR  ({self.tally.count}/{self.tally.expected})"
        )
        if self.tally.count >= self.tally.expected:
            self.tally.done.set()


def build_mediator(tally: Tally) -> EventMediator:
    events = EventMap()
    events.bind(OrderPlaced, PrintOrder)
    container = DefaultContainer()
    container.register_instance(Tally, tally)
    return bootstrap_events(events=events, container=container)


async def publish(bootstrap: str) -> None:
    broker = KafkaMessageBroker(kafka_producer_factory(bootstrap, enable_idempotence=False))
    await broker.start()
    try:
        await broker.publish(
            [
                OutgoingMessage.from_event(
                    OrderPlaced(
                        payload=Order(
                            order_id=n,
                            customer=CUSTOMERS[n % len(CUSTOMERS)],
                            total_cents=1999 + 250 * n,
                        ),
                        partition_key=CUSTOMERS[n % len(CUSTOMERS)],
                    )
                )
                for n in range(1, EVENTS + 1)
            ]
        )
    finally:
        await broker.close()


async def main() -> int:
    started = time.monotonic()
    print("starting a local Kafka-protocol broker (Tansu, in memory; development only)")
    async with embedded_kafka() as bootstrap:
        await create_topics(bootstrap, {TOPIC: 4})
        await publish(bootstrap)
        print(f"published {EVENTS} OrderPlaced events to {TOPIC} at {bootstrap}")
        tally = Tally(EVENTS)
        settings = WorkerSettings(
            kafka_bootstrap=bootstrap,
            group_id="quickstart",
            kafka_idempotence=False,  # Tansu grants no producer ids
            session_timeout_ms=2000,  # Tansu answers group joins after half of this
            heartbeat_interval_ms=500,
            health_port=0,
            shutdown_timeout=5,
        )
        worker = Worker(build_mediator(tally), settings)
        print("running the worker (joining the consumer group takes a moment)")
        async with worker.running():
            await asyncio.wait_for(tally.done.wait(), timeout=25)
            print("all events handled; stopping gracefully")
        stats = ", ".join(f"{k}={v}" for k, v in worker.stats.snapshot().items())
        print(f"worker stopped: {stats}")
    print(f"done in {time.monotonic() - started:.1f}s")
    return 0 if tally.count == EVENTS else 1


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    sys.exit(asyncio.run(main()))

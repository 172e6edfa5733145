"""A worker process whose handler takes batches: ``tests.integration.worker.batch_app:build``.

``python -m cqrs_worker.cli run tests.integration.worker.batch_app:build --factory`` with
the usual ``CQRS_WORKER_*`` settings (Kafka or RabbitMQ) and ``BATCH_APP_OUT``: a file
this process appends ``done <seq>`` to per handled event (one ``os.write`` on an
``O_APPEND`` descriptor per line). Each ``handle_batch`` call logs ``handle_batch of N``.
An event with ``poison`` set fails every attempt, in a batch or alone.
"""

from __future__ import annotations

import logging
import os

import pydantic

from cqrs_worker import DefaultContainer, EventMap, EventMediator, NotificationEvent
from cqrs_worker.bootstrap import bootstrap_events

logger = logging.getLogger("tests.batch_app")


class Item(pydantic.BaseModel):
    seq: int
    poison: bool = False


class Counted(NotificationEvent[Item]):
    event_name: str = "Counted"
    topic: str = "counted"


class Out:
    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def write(self, lines: list[str]) -> None:
        if lines:
            os.write(self._fd, "".join(f"{line}\n" for line in lines).encode())


class RecordCounted:
    def __init__(self, out: Out) -> None:
        self.out = out

    async def handle(self, event: Counted) -> None:
        await self.handle_batch([event])

    async def handle_batch(self, events: list[Counted]) -> None:
        logger.info("handle_batch of %d", len(events))
        poison = [e.payload.seq for e in events if e.payload.poison]
        if poison:
            raise RuntimeError(f"event {poison[0]} is poison")
        self.out.write([f"done {e.payload.seq}" for e in events])


def build() -> EventMediator:
    events = EventMap()
    events.bind(Counted, RecordCounted)
    container = DefaultContainer()
    container.register_instance(Out, Out(os.environ["BATCH_APP_OUT"]))
    return bootstrap_events(events=events, container=container, middlewares=())

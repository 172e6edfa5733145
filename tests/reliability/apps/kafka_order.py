"""A worker app for the Kafka reliability suites (R4 per-key order, R9 poison).

``python -m cqrs_worker.cli run tests.reliability.apps.kafka_order:build --factory``
with the usual ``CQRS_WORKER_*`` settings and:

``KAFKA_RELIABILITY_LOG``    file this process appends ``<key> <seq>`` to per handled event
``KAFKA_RELIABILITY_DELAY``  the handler sleeps a random 0..DELAY seconds (default 0),
                             so deliveries of different keys interleave
"""

from __future__ import annotations

import asyncio
import os
import random
from typing import TextIO

import pydantic

from cqrs_worker import DefaultContainer, EventMap, EventMediator, NotificationEvent


class Step(pydantic.BaseModel):
    key: str
    seq: int


class Stepped(NotificationEvent[Step]):
    event_name: str = "Stepped"
    topic: str = "steps"


class HandledLog:
    """Line-buffered ``<key> <seq>`` lines: what this process finished handling."""

    def __init__(self, stream: TextIO, delay: float) -> None:
        self.stream = stream
        self.delay = delay


class OnStepped:
    def __init__(self, log: HandledLog) -> None:
        self.log = log

    async def handle(self, event: Stepped) -> None:
        if self.log.delay:
            await asyncio.sleep(random.random() * self.log.delay)
        self.log.stream.write(f"{event.payload.key} {event.payload.seq}\n")


def build() -> EventMediator:
    stream = open(os.environ["KAFKA_RELIABILITY_LOG"], "a", buffering=1)  # noqa: SIM115 - process-long
    log = HandledLog(stream, float(os.environ.get("KAFKA_RELIABILITY_DELAY", "0")))
    container = DefaultContainer()
    container.register_instance(HandledLog, log)
    events = EventMap()
    events.bind(Stepped, OnStepped)
    return EventMediator(events, container)

"""A worker app for the Kafka reliability suites (R4 per-key order, R9 poison, R11 stuck partition).

``python -m cqrs_worker.cli run tests.reliability.apps.kafka_order:build --factory``
with the usual ``CQRS_WORKER_*`` settings and:

``KAFKA_RELIABILITY_LOG``    file this process appends ``<key> <seq>`` to per handled event
``KAFKA_RELIABILITY_DELAY``  the handler sleeps a random 0..DELAY seconds (default 0),
                             so deliveries of different keys interleave
``KAFKA_RELIABILITY_FAIL_KEY``      the first event (seq 0) of this key raises...
``KAFKA_RELIABILITY_FAIL_SECONDS``  ...for this many seconds after its first attempt
"""

from __future__ import annotations

import asyncio
import os
import random
import time
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

    def __init__(
        self, stream: TextIO, delay: float, fail_key: str | None = None, fail_for: float = 0.0
    ) -> None:
        self.stream = stream
        self.delay = delay
        self.fail_key = fail_key
        self.fail_for = fail_for
        self.failing_since: float | None = None

    def failing(self, event: Stepped) -> bool:
        """Whether this attempt at the failing key's first event fails (the clock starts at
        its first attempt)."""
        if event.payload.key != self.fail_key or event.payload.seq != 0:
            return False
        now = time.monotonic()
        if self.failing_since is None:
            self.failing_since = now
        return now - self.failing_since < self.fail_for


class OnStepped:
    def __init__(self, log: HandledLog) -> None:
        self.log = log

    async def handle(self, event: Stepped) -> None:
        if self.log.failing(event):
            raise RuntimeError(f"{event.payload.key} fails for {self.log.fail_for}s")
        if self.log.delay:
            await asyncio.sleep(random.random() * self.log.delay)
        self.log.stream.write(f"{event.payload.key} {event.payload.seq}\n")


def build() -> EventMediator:
    stream = open(os.environ["KAFKA_RELIABILITY_LOG"], "a", buffering=1)  # noqa: SIM115 - process-long
    log = HandledLog(
        stream,
        float(os.environ.get("KAFKA_RELIABILITY_DELAY", "0")),
        os.environ.get("KAFKA_RELIABILITY_FAIL_KEY"),
        float(os.environ.get("KAFKA_RELIABILITY_FAIL_SECONDS", "0")),
    )
    container = DefaultContainer()
    container.register_instance(HandledLog, log)
    events = EventMap()
    events.bind(Stepped, OnStepped)
    return EventMediator(events, container)

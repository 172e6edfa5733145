"""A worker process for the runtime's reliability suites (R2, R5) and CLI integration tests.

``python -m cqrs_worker.cli run tests.reliability.worker.app:build --factory``
with the usual ``CQRS_WORKER_*`` settings (``TOPICS`` names the test's topic) and:

``RELIABILITY_OUT``           file this process appends one line per event to:
                              ``start <seq>`` before handling, ``done <seq>`` after
``RELIABILITY_SECONDS``       how long each handler takes (default 0)
``RELIABILITY_SLOW_SECONDS``  how long events with ``slow`` set take (default: the same)

Lines are written with one ``os.write`` on an ``O_APPEND`` descriptor, so a
line is either in the file or not, even when the process is SIGKILLed.
"""

from __future__ import annotations

import asyncio
import os

import pydantic

from cqrs_worker import DefaultContainer, EventMap, EventMediator, NotificationEvent
from cqrs_worker.bootstrap import bootstrap_events


class Item(pydantic.BaseModel):
    seq: int
    slow: bool = False


class Numbered(NotificationEvent[Item]):
    event_name: str = "Numbered"
    topic: str = "reliability"


class Journal:
    """The per-process output file."""

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def write(self, line: str) -> None:
        os.write(self._fd, f"{line}\n".encode())


class Record:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    async def handle(self, event: Numbered) -> None:
        seq = event.payload.seq
        self.journal.write(f"start {seq}")
        seconds = float(os.environ.get("RELIABILITY_SECONDS", "0"))
        if event.payload.slow:
            seconds = float(os.environ.get("RELIABILITY_SLOW_SECONDS", str(seconds)))
        if seconds:
            await asyncio.sleep(seconds)
        self.journal.write(f"done {seq}")


def build() -> EventMediator:
    events = EventMap()
    events.bind(Numbered, Record)
    container = DefaultContainer()
    container.register_instance(Journal, Journal(os.environ["RELIABILITY_OUT"]))
    return bootstrap_events(events=events, container=container, middlewares=())

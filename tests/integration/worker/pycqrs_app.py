"""The worker target of the python-cqrs feature tests (``cqrs-worker run ...pycqrs_app:mediator``).

* ``JobQueued`` has three handlers that each take ``NAP`` seconds, run with
  ``max_concurrent_event_handlers=3``; ``Audit`` fails the first attempt of a
  job marked ``fail``. Each handler logs when it starts and ends (monotonic
  clock of the worker process) and which attempt it is on.
* ``ParcelShipped`` is a python-cqrs style dataclass event
  (:class:`~cqrs_worker.DCNotificationEvent`); its handler logs the classes it got.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time

import pydantic

from cqrs_worker import (
    DCNotificationEvent,
    DefaultContainer,
    EventMap,
    EventMediator,
    NotificationEvent,
)
from cqrs_worker.bootstrap import bootstrap_events

logger = logging.getLogger("shop.jobs")

NAP = 0.3
HANDLERS = ("Mail", "Ledger", "Audit")


class Job(pydantic.BaseModel):
    n: int
    fail: bool = False


class JobQueued(NotificationEvent[Job]):
    event_name: str = "JobQueued"
    topic: str = "jobs"


@dataclasses.dataclass
class Parcel:
    order_id: str
    weight_grams: int


class ParcelShipped(DCNotificationEvent[Parcel]):
    event_name: str = "ParcelShipped"
    topic: str = "jobs"
    payload: Parcel


class Attempts(dict[int, int]):
    """Audit's attempts per job, for the process."""


class Napper:
    async def handle(self, event: JobQueued) -> None:
        name = type(self).__name__
        logger.warning("start %s %d at %.4f", name, event.payload.n, time.monotonic())
        await asyncio.sleep(NAP)
        logger.warning("end %s %d at %.4f", name, event.payload.n, time.monotonic())


class Mail(Napper):
    pass


class Ledger(Napper):
    pass


class Audit(Napper):
    def __init__(self, attempts: Attempts) -> None:
        self.attempts = attempts

    async def handle(self, event: JobQueued) -> None:
        n = event.payload.n
        self.attempts[n] = self.attempts.get(n, 0) + 1
        await super().handle(event)
        if event.payload.fail and self.attempts[n] == 1:
            raise RuntimeError(f"audit of job {n} failed on attempt 1")


class RecordParcel:
    async def handle(self, event: ParcelShipped) -> None:
        logger.warning(
            "parcel %s of %d g arrived as %s with a %s payload",
            event.payload.order_id,
            event.payload.weight_grams,
            type(event).__name__,
            type(event.payload).__name__,
        )


def mediator() -> EventMediator:
    events = EventMap()
    for handler in (Mail, Ledger, Audit):
        events.bind(JobQueued, handler)
    events.bind(ParcelShipped, RecordParcel)
    container = DefaultContainer()
    container.register_instance(Attempts, Attempts())
    return bootstrap_events(
        events=events, container=container, middlewares=(), max_concurrent_event_handlers=3
    )


_MARK = re.compile(r"(start|end) (\w+) (\d+) at (\d+\.\d+)")


def spans(output: str) -> dict[int, list[tuple[str, str, float]]]:
    """Per job, the (start|end, handler, time) marks the handlers logged, in order."""
    found: dict[int, list[tuple[str, str, float]]] = {}
    for what, handler, n, at in _MARK.findall(output):
        found.setdefault(int(n), []).append((what, handler, float(at)))
    return found

"""Targets for the ``cqrs-worker run`` tests: mediators, workers, factories and wrong types.

The workers consume an in-memory source, so they run without a broker;
``SAMPLE_PUBLISH`` events are put into it at start-up.
"""

from __future__ import annotations

import asyncio
import os

from cqrs_worker.brokers import InMemoryBroker, OutgoingMessage
from cqrs_worker.worker.app import Worker
from cqrs_worker.worker.context import SourceContext
from cqrs_worker.worker.memory import InMemoryDeadLetterSink, InMemorySource
from cqrs_worker.worker.source import Source
from tests.unit.worker.sample import Journal, mediator, placed

journal = Journal(on_handle=lambda n: print(f"handled order {n}", flush=True))
events = mediator(journal)
not_a_mediator = {"answer": 42}


class SlowToStop(InMemorySource):
    """Its stop waits ``SAMPLE_STOP_SECONDS``, like in-flight work that takes long to finish."""

    async def stop(self, timeout: float) -> None:
        print("stopping slowly", flush=True)
        await asyncio.sleep(float(os.environ.get("SAMPLE_STOP_SECONDS", "60")))
        await super().stop(timeout)


def memory(context: SourceContext) -> Source:
    kind = SlowToStop if os.environ.get("SAMPLE_SLOW_STOP") else InMemorySource
    sink = InMemoryDeadLetterSink(InMemoryBroker())
    source = kind(pipeline=context.pipeline(sink), stats=context.stats)
    for n in range(int(os.environ.get("SAMPLE_PUBLISH", "0"))):
        source.put(OutgoingMessage.from_event(placed(n)))
    return source


worker = Worker(events, sources=[memory])


def build_worker() -> Worker:
    return Worker(events, sources=[memory])


async def build_worker_async() -> Worker:
    await asyncio.sleep(0)
    return Worker(events, sources=[memory])


def build_nothing() -> None:
    return None

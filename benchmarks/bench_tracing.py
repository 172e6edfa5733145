"""What tracing costs per message, measured side by side in one run.

Run with ``.venv/bin/python benchmarks/bench_tracing.py`` (needs the ``dev``
extra: the OpenTelemetry SDK). One delivery at a time through the real
pipeline (decode, retry wrapper, mediator, one trivial handler), awaited in a
loop, and the headers of one published event:

* **untraced** — no tracer provider configured (the API's proxy): the worker
  detects that once per start and builds the very pipeline it builds without
  OpenTelemetry; this is what every user without an exporter pays.
* **SDK, no processor** — a real SDK provider: span creation, header
  extraction and attributes, nothing exported.
* **SDK + SimpleSpanProcessor** — every span exported (to memory) as it ends.

Untraced, the worker runs the pipeline function it runs without
OpenTelemetry (the benchmark checks it got the unwrapped one): the provider
check runs once per start, never per message.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pydantic
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from cqrs_worker import EventMap, NotificationEvent, bootstrap_events
from cqrs_worker.brokers import InMemoryBroker, OutgoingMessage
from cqrs_worker.envelope import EnvelopeCodec, EventRegistry, event_headers
from cqrs_worker.worker.delivery import Delivery
from cqrs_worker.worker.memory import InMemoryDeadLetterSink, InMemoryMessage
from cqrs_worker.worker.pipeline import Pipeline, build_pipeline
from cqrs_worker.worker.retry import RetryPolicy
from cqrs_worker.worker.stats import WorkerStats

REPEATS = 7
LOOPS = 20_000


class Payload(pydantic.BaseModel):
    n: int


class Ticked(NotificationEvent[Payload]):
    event_name: str = "Ticked"
    topic: str = "ticks"


class OnTicked:
    async def handle(self, event: Ticked) -> None:
        return None


def _pipeline() -> Pipeline:
    events = EventMap()
    events.bind(Ticked, OnTicked)
    mediator = bootstrap_events(events=events)
    return build_pipeline(
        mediator=mediator,
        codec=EnvelopeCodec(EventRegistry.from_event_map(events)),
        dead_letters=InMemoryDeadLetterSink(InMemoryBroker(), suffix=".dlq"),
        retry=RetryPolicy(),
        stats=WorkerStats(),
        worker_id="bench",
        consumer_group="bench",
    )


def _per_message(pipeline: Pipeline, message: InMemoryMessage) -> float:
    async def loop(loops: int) -> float:
        started = time.perf_counter()
        for i in range(loops):
            await pipeline(Delivery(message.body, "Ticked", i, message))
        return time.perf_counter() - started

    def run(loops: int) -> float:
        return asyncio.run(loop(loops))

    run(LOOPS // 10)
    gc.collect()
    gc.disable()
    try:
        return min(run(LOOPS) for _ in range(REPEATS)) / LOOPS * 1e6
    finally:
        gc.enable()


def _per_call(call: Callable[[], object]) -> float:
    def run() -> float:
        started = time.perf_counter()
        for _ in range(LOOPS):
            call()
        return time.perf_counter() - started

    run()
    return min(run() for _ in range(REPEATS)) / LOOPS * 1e6


def _with_provider(provider: trace.TracerProvider | None) -> None:
    # set_tracer_provider works once per process; a benchmark switches the global itself.
    trace._TRACER_PROVIDER = provider


def main() -> None:
    event = Ticked(payload=Payload(n=1))
    sent = OutgoingMessage.from_event(event)
    message = InMemoryMessage(topic="ticks", body=sent.body, headers=dict(sent.headers))

    _with_provider(None)
    untraced = _pipeline()
    assert untraced.__qualname__.endswith("build_pipeline.<locals>.pipeline")
    off = _per_message(untraced, message)
    headers_off = _per_call(lambda: event_headers(event))

    bare = TracerProvider()
    _with_provider(bare)
    no_export = _per_message(_pipeline(), message)

    exported = TracerProvider()
    exported.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    _with_provider(exported)
    with_export = _per_message(_pipeline(), message)
    with trace.get_tracer("bench").start_as_current_span("publish"):
        headers_on = _per_call(lambda: event_headers(event))
    _with_provider(None)

    rows = [
        ("untraced (no provider: no wrapper)", off, ""),
        ("SDK provider, no span processor", no_export, f"(+{no_export - off:.2f})"),
        ("SDK provider + SimpleSpanProcessor", with_export, f"(+{with_export - off:.2f})"),
    ]
    print(f"one delivery through the pipeline, best of {REPEATS} x {LOOPS}")
    for label, value, extra in rows:
        print(f"  {label:38} {value:8.2f} us/message  {extra}")
    print("event_headers(event) (publish and outbox)")
    print(f"  {'no active span':38} {headers_off:8.2f} us/event")
    print(f"  {'inside a recording span':38} {headers_on:8.2f} us/event")


if __name__ == "__main__":
    main()

"""The tracing boundary: optional API, decided once per start, headers in and out."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

import cqrs_worker.envelope.tracing
from cqrs_worker.brokers import InMemoryBroker
from cqrs_worker.observability import tracing
from cqrs_worker.testing import run_worker_in_memory
from tests.support.tracing import use_provider
from tests.unit.worker.sample import mediator, placed

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_the_old_import_is_the_same_function() -> None:
    assert cqrs_worker.envelope.tracing.trace_headers is tracing.trace_headers


def test_without_a_provider_nothing_is_wrapped() -> None:
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    assert tracing.tracer() is None
    assert tracing.consumer_tracing(consumer_group="g") is None
    broker = InMemoryBroker()
    assert tracing.traced_broker(broker) is broker


def test_the_noop_provider_counts_as_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", trace.NoOpTracerProvider())
    assert tracing.tracer() is None


async def test_a_provider_set_after_start_is_used_from_the_next_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with run_worker_in_memory(mediator()) as before:
        _, exporter = use_provider(monkeypatch)  # set while this worker runs
        await before.publish(placed(1))
        await before.wait_handled(1)
    assert exporter.get_finished_spans() == ()

    async with run_worker_in_memory(mediator()) as after:
        await after.publish(placed(2))
        await after.wait_handled(1)
    assert [s.name for s in exporter.get_finished_spans()] == ["process orders"]


def test_headers_round_trip_through_the_propagator() -> None:
    context = tracing.extract_context({"traceparent": TRACEPARENT, "tracestate": "a=1"})
    assert context is not None
    span_context = trace.get_current_span(context).get_span_context()
    assert span_context.is_remote
    assert f"{span_context.trace_id:032x}" == TRACEPARENT.split("-")[1]

    carrier: dict[str, str] = {"traceparent": "stale"}
    tracing.inject_context(carrier, context)
    assert carrier == {"traceparent": TRACEPARENT, "tracestate": "a=1"}


def test_trace_headers_are_empty_without_an_active_span() -> None:
    assert tracing.trace_headers() == {}
    sampled = SpanContext(1, 2, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    with trace.use_span(NonRecordingSpan(sampled)):
        assert tracing.trace_headers() == {
            "traceparent": "00-00000000000000000000000000000001-0000000000000002-01"
        }


_WITHOUT_OTEL = """
import asyncio, importlib.abc, sys

class NoOpenTelemetry(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ImportError(f"No module named {name!r}")
        return None

sys.meta_path.insert(0, NoOpenTelemetry())

from cqrs_worker.brokers import InMemoryBroker
from cqrs_worker.observability import tracing
from cqrs_worker.testing import run_worker_in_memory
from tests.unit.worker.sample import Journal, mediator, placed

async def main():
    journal = Journal()
    async with run_worker_in_memory(mediator(journal)) as harness:
        await harness.publish(placed(1))
        await harness.wait_handled(1)
    assert journal.handled == [1]
    assert tracing.trace_headers() == {}
    assert tracing.tracer() is None and tracing.consumer_tracing() is None
    broker = InMemoryBroker()
    assert tracing.traced_broker(broker) is broker
    assert not any(m.startswith("opentelemetry") for m in sys.modules)
    print("ran without opentelemetry")

asyncio.run(main())
"""


def test_without_the_api_installed_the_worker_runs_untraced() -> None:
    """No ``otel`` extra: every tracing call degrades to 'off' (a fresh interpreter)."""
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_OTEL],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[3])},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ran without opentelemetry"

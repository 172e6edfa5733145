"""The worker's CONSUMER span per delivery, on the real pipeline (in memory)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from cqrs_worker.observability.tracing import trace_headers
from cqrs_worker.outbox import SqlAlchemyOutboxedEventRepository
from cqrs_worker.testing import run_worker_in_memory
from tests.support.tracing import RaisingSpanProcessor, use_provider
from tests.unit.worker.sample import Journal, Order, Shipped, mediator, placed

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def exporter(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    return use_provider(monkeypatch)[1]


def _consumer_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.kind is SpanKind.CONSUMER]


async def test_a_delivery_runs_in_a_consumer_span_continuing_the_message_trace(
    exporter: InMemorySpanExporter,
) -> None:
    tracer = trace.get_tracer("test")
    event = placed(1, key="customer-7")
    async with run_worker_in_memory(mediator()) as harness:
        with tracer.start_as_current_span("place order") as producer:
            await harness.publish(event)
        await harness.wait_handled(1)

    (span,) = _consumer_spans(exporter)
    assert span.name == "process orders"
    assert span.parent is not None
    assert span.parent.span_id == producer.get_span_context().span_id
    assert span.context is not None
    assert span.context.trace_id == producer.get_span_context().trace_id
    assert span.attributes is not None
    assert dict(span.attributes) == {
        "messaging.system": "memory",
        "messaging.destination.name": "orders",
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.message.body.size": len(harness.source.acked[0].body),
        "messaging.message.id": str(event.event_id),
        "cqrs_worker.event_name": "OrderPlaced",
        "cqrs_worker.attempts": 1,
        "cqrs_worker.outcome": "handled",
    }
    assert span.status.status_code is StatusCode.UNSET


async def test_what_a_handler_writes_to_the_outbox_carries_the_consumer_span(
    exporter: InMemorySpanExporter,
) -> None:
    written: list[dict[str, str]] = []
    repository = SqlAlchemyOutboxedEventRepository()

    def write_outbox_row(n: int) -> None:
        row = repository.row(Shipped(payload=Order(n=n)))
        written.append({"row": row["headers"], **trace_headers()})

    journal = Journal(on_handle=write_outbox_row)
    async with run_worker_in_memory(mediator(journal)) as harness:
        await harness.publish_raw(
            _body(1),
            topic="orders",
            headers={"event_name": "OrderPlaced", "traceparent": TRACEPARENT},
        )
        await harness.wait_handled(1)

    (span,) = _consumer_spans(exporter)
    assert span.context is not None
    mine = f"00-{span.context.trace_id:032x}-{span.context.span_id:016x}-01"  # parent sampled
    assert f'"traceparent":"{mine}"' in written[0]["row"]
    assert written[0]["traceparent"] == mine
    assert f"{span.context.trace_id:032x}" == TRACEPARENT.split("-")[1]


def _body(n: int) -> bytes:
    from cqrs_worker.envelope import encode_event

    return encode_event(placed(n))


async def test_failed_attempts_are_events_and_a_dead_letter_is_an_error(
    exporter: InMemorySpanExporter,
) -> None:
    async with run_worker_in_memory(mediator(Journal()), max_attempts=3) as harness:
        await harness.publish(placed(1, fail=2), placed(2, fail=-1))
        await harness.wait_handled(2)

    spans = {
        str(s.attributes and s.attributes["cqrs_worker.outcome"]): s
        for s in _consumer_spans(exporter)
    }
    retried, dead = spans["handled"], spans["dead_lettered"]
    assert retried.attributes is not None
    assert dead.attributes is not None
    assert retried.attributes["cqrs_worker.outcome"] == "handled"
    assert retried.attributes["cqrs_worker.attempts"] == 3
    assert [
        (e.name, e.attributes and e.attributes["cqrs_worker.attempt"]) for e in retried.events
    ] == [
        ("exception", 1),
        ("exception", 2),
    ]
    assert retried.status.status_code is StatusCode.UNSET

    assert dead.attributes["cqrs_worker.outcome"] == "dead_lettered"
    assert dead.attributes["error.type"] == "cqrs_worker.errors.EventHandlingError"
    assert dead.status.status_code is StatusCode.ERROR
    assert dead.status.description is not None
    assert "order 2 failed on attempt 3" in dead.status.description
    assert len(dead.events) == 3


async def test_a_malformed_message_is_an_error_span_without_attempts(
    exporter: InMemorySpanExporter,
) -> None:
    async with run_worker_in_memory(mediator()) as harness:
        await harness.publish_raw(b"not json", topic="orders", headers={"event_name": "X"})
        await harness.publish_raw(_body(3), topic="orders", headers={"event_name": "Nobody"})
        await harness.wait_handled(2)

    outcomes = sorted(
        (str(s.attributes and s.attributes["cqrs_worker.outcome"]), s.status.status_code.name)
        for s in _consumer_spans(exporter)
    )
    assert outcomes == [("dead_lettered", "ERROR"), ("unknown", "UNSET")]
    (bad,) = [s for s in _consumer_spans(exporter) if s.status.status_code is StatusCode.ERROR]
    assert bad.attributes is not None
    assert bad.attributes["error.type"] == "cqrs_worker.errors.NotJsonError"
    assert [e.name for e in bad.events] == ["exception"]


@pytest.mark.parametrize(
    "traceparent",
    ["garbage", "00-00000000000000000000000000000000-b7ad6b7169203331-01", "00-zz-yy-01", ""],
)
async def test_a_malformed_traceparent_starts_a_new_trace_and_the_message_is_handled(
    exporter: InMemorySpanExporter, traceparent: str
) -> None:
    journal = Journal()
    async with run_worker_in_memory(mediator(journal)) as harness:
        await harness.publish_raw(
            _body(1),
            topic="orders",
            headers={"event_name": "OrderPlaced", "traceparent": traceparent, "tracestate": "=,="},
        )
        await harness.wait_handled(1)

    assert journal.handled == [1]
    (span,) = _consumer_spans(exporter)
    assert span.parent is None
    assert harness.dead_letters() == []


class _Exploding(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        raise RuntimeError("exporter down")


@pytest.mark.parametrize("where", ["processor", "exporter"])
async def test_a_tracing_failure_never_fails_a_delivery(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, where: str
) -> None:
    provider = TracerProvider()
    if where == "processor":
        provider.add_span_processor(RaisingSpanProcessor())
    else:
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor

        provider.add_span_processor(SimpleSpanProcessor(_Exploding()))
    use_provider(monkeypatch, provider)
    journal = Journal()
    async with run_worker_in_memory(mediator(journal), max_attempts=2) as harness:
        await harness.publish(placed(1), placed(2, fail=1), placed(3, key="k"), placed(4, key="k"))
        await harness.wait_handled(4)

    assert sorted(journal.handled) == [1, 2, 3, 4]
    assert harness.dead_letters() == []
    assert harness.stats.handled == 4
    assert harness.stats.retried == 1
    if where == "processor":  # our guard caught it (an exporter's failure the SDK catches)
        warnings = [r for r in caplog.records if "tracing failed" in r.getMessage()]
        assert warnings[0].levelname == "WARNING"
        assert all(r.levelname == "DEBUG" for r in warnings[1:])  # loud once, then quiet

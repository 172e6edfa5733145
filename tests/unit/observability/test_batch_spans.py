"""The span of a batch handler's attempt: a root CONSUMER span linking to each message."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from cqrs_worker.brokers import OutgoingMessage
from cqrs_worker.worker.delivery import Delivery
from tests.support.tracing import use_provider
from tests.unit.worker.sample import OrderPlaced, raw_delivery
from tests.unit.worker.test_batches import Rig


@pytest.fixture
def exporter(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    return use_provider(monkeypatch)[1]


def traced(n: int, *, fail: int = 0) -> Delivery:
    event = OrderPlaced.model_validate({"payload": {"n": n, "fail": fail}})
    message = OutgoingMessage.from_event(event)
    traceparent = f"00-{n + 1:032x}-{n + 1:016x}-01"
    headers = {**message.headers, "traceparent": traceparent}
    return raw_delivery(message.body, headers=headers, lane="k")


def consumer_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.kind is SpanKind.CONSUMER]


async def test_a_batch_attempt_is_one_span_linking_every_message(
    exporter: InMemorySpanExporter,
) -> None:
    rig = Rig()  # built after the provider: the pipeline looks for it once
    await rig.run([traced(n) for n in range(3)])

    (span,) = consumer_spans(exporter)
    assert span.name == "process orders"
    assert span.parent is None
    assert [link.context.trace_id for link in span.links] == [1, 2, 3]
    assert span.attributes is not None
    assert span.attributes["messaging.batch.message_count"] == 3
    assert span.attributes["cqrs_worker.event_name"] == "OrderPlaced"
    assert span.attributes["cqrs_worker.outcome"] == "handled"
    assert "messaging.message.id" not in span.attributes


async def test_a_failed_batch_span_and_the_isolated_event_s_own_span(
    exporter: InMemorySpanExporter,
) -> None:
    rig = Rig()
    await rig.run([traced(0), traced(1, fail=-1)])

    spans = consumer_spans(exporter)
    batches = [s for s in spans if s.attributes and "messaging.batch.message_count" in s.attributes]
    assert [s.attributes["cqrs_worker.outcome"] for s in batches if s.attributes] == [
        "failed",
        "failed",
    ]
    assert all(s.status.status_code is StatusCode.ERROR for s in batches)
    alone = [s for s in spans if s not in batches]
    outcomes = {
        s.parent.trace_id: s.attributes["cqrs_worker.outcome"]
        for s in alone
        if s.parent and s.attributes
    }
    assert outcomes == {1: "handled", 2: "dead_lettered"}

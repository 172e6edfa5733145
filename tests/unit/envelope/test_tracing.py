from __future__ import annotations

import pydantic
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from cqrs_worker import NotificationEvent
from cqrs_worker.brokers import OutgoingMessage
from cqrs_worker.envelope import event_headers


class Payload(pydantic.BaseModel):
    n: int


class Ticked(NotificationEvent[Payload]):
    event_name: str = "Ticked"
    topic: str = "ticks"


def test_no_active_span_adds_no_trace_header() -> None:
    headers = event_headers(Ticked(payload=Payload(n=1)))
    assert "traceparent" not in headers


def test_the_active_span_travels_as_traceparent() -> None:
    context = SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C,
        span_id=0xB7AD6B7169203331,
        is_remote=False,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    with trace.use_span(NonRecordingSpan(context)):
        message = OutgoingMessage.from_event(Ticked(payload=Payload(n=1)))
    assert message.headers["traceparent"] == (
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    )
    assert message.headers["event_name"] == "Ticked"

"""The relay's PRODUCER span per row: parent is the row's stored context, the message carries it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from cqrs_worker.brokers import AMQPMessageBroker, InMemoryBroker, OutgoingMessage
from cqrs_worker.errors import PublishError
from cqrs_worker.observability.producer_spans import TracingBroker
from cqrs_worker.outbox import EventProducer, OutboxRepository, outbox_table
from tests.support.tracing import RaisingSpanProcessor, use_provider
from tests.unit.outbox.conftest import fast_settings, moved

ROW_PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def exporter(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    return use_provider(monkeypatch)[1]


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}")
    try:
        yield engine
    finally:
        await engine.dispose()


def _traceparent(span: ReadableSpan) -> str:
    """Version, trace id and span id (the flags may carry the SDK's random-trace-id bit)."""
    assert span.context is not None
    return f"00-{span.context.trace_id:032x}-{span.context.span_id:016x}"


async def test_the_relay_continues_the_trace_stored_in_each_row(
    exporter: InMemorySpanExporter, engine: AsyncEngine
) -> None:
    metadata = sa.MetaData()
    repository = OutboxRepository(outbox_table(metadata, name="traced_outbox"))
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    tracer = trace.get_tracer("test")
    async with engine.begin() as conn:
        with tracer.start_as_current_span("write first") as first:
            await repository.add(conn, moved(1, key="a"))
        await repository.add(conn, moved(2, key="b"))  # written outside any span
    broker = InMemoryBroker()
    producer = EventProducer(engine, broker, repository=repository, settings=fast_settings())
    async with producer:
        assert await producer.drain() == 2

    sends = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.PRODUCER]
    assert [s.name for s in sends] == ["send items", "send items"]
    continued, root = sends
    assert continued.parent is not None
    assert continued.parent.span_id == first.get_span_context().span_id
    assert continued.context is not None
    assert continued.context.trace_id == first.get_span_context().trace_id
    assert root.parent is None  # no stored context: the publish starts a trace
    published = broker.messages("items")
    assert [m.headers["traceparent"][:-3] for m in published] == [_traceparent(s) for s in sends]
    assert continued.attributes is not None
    assert dict(continued.attributes) == {
        "messaging.system": "memory",
        "messaging.destination.name": "items",
        "messaging.operation.type": "send",
        "messaging.operation.name": "send",
        "messaging.message.body.size": len(published[0].body),
        "messaging.message.id": published[0].headers["event_id"],
        "cqrs_worker.event_name": "ItemMoved",
    }


async def test_a_failed_publish_ends_every_span_as_an_error(
    exporter: InMemorySpanExporter,
) -> None:
    broker = InMemoryBroker()
    await broker.start()
    broker.reachable = False
    traced = TracingBroker(broker, trace.get_tracer("test"))
    message = OutgoingMessage("items", b"{}", headers={"traceparent": ROW_PARENT})
    with pytest.raises(PublishError):
        await traced.publish([message, message])

    spans = exporter.get_finished_spans()
    assert len(spans) == 2
    for span in spans:
        assert span.status.status_code is StatusCode.ERROR
        assert [e.name for e in span.events] == ["exception"]
        assert span.parent is not None
        assert span.parent.span_id == 0xB7AD6B7169203331


def test_rabbitmq_spans_name_exchange_and_routing_key(exporter: InMemorySpanExporter) -> None:
    broker = AMQPMessageBroker("amqp://guest:guest@127.0.0.1:1/", exchange="events")
    traced = TracingBroker(broker, trace.get_tracer("test"))
    started: list[trace.Span] = []
    out = traced._traced(OutgoingMessage("participants", b"{}", key="m-1"), started)
    for each in started:
        each.end()

    (span,) = exporter.get_finished_spans()
    assert span.name == "publish events:participants"
    assert span.attributes is not None
    assert span.attributes["messaging.system"] == "rabbitmq"
    assert span.attributes["messaging.destination.name"] == "events:participants"
    assert span.attributes["messaging.rabbitmq.destination.routing_key"] == "participants"
    assert out.headers["traceparent"][:-3] == _traceparent(span)


async def test_a_span_processor_that_raises_never_fails_a_publish(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    provider = TracerProvider()
    provider.add_span_processor(RaisingSpanProcessor())
    use_provider(monkeypatch, provider)
    broker = InMemoryBroker()
    await broker.start()
    traced = TracingBroker(broker, trace.get_tracer("test"))
    message = OutgoingMessage("items", b"{}", headers={"traceparent": ROW_PARENT})
    await traced.publish([message])
    assert broker.messages("items") == [message]  # published as it was

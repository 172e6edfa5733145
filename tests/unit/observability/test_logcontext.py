"""The log context: which delivery a record is about, copied onto records by the filter."""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiokafka.structs import ConsumerRecord
from aiormq.abc import DeliveredMessage
from pamqp.commands import Basic
from pamqp.header import ContentHeader

from cqrs_worker.brokers import OutgoingMessage
from cqrs_worker.brokers.amqp import PARTITION_KEY_HEADER
from cqrs_worker.envelope import EnvelopeCodec, EventRegistry, encode_event
from cqrs_worker.observability.logcontext import (
    LogContextFilter,
    bind,
    current,
    delivery_fields,
    rebind,
    unbind,
)
from cqrs_worker.worker.delivery import Delivery
from cqrs_worker.worker.rabbitmq.acks import AckTracker
from cqrs_worker.worker.rabbitmq.record import RabbitRecord
from tests.unit.worker.sample import OrderPlaced, placed, raw_delivery


def codec() -> EnvelopeCodec:
    registry = EventRegistry()
    registry.register(OrderPlaced, name="OrderPlaced")
    return EnvelopeCodec(registry)


def record(msg: str = "m", **extra: object) -> logging.LogRecord:
    entry = logging.LogRecord("app", logging.INFO, __file__, 1, msg, None, None)
    entry.__dict__.update(extra)
    return entry


def filtered(entry: logging.LogRecord) -> dict[str, object]:
    assert LogContextFilter().filter(entry) is True
    return entry.__dict__


def kafka_delivery(key: bytes | None) -> Delivery:
    event = placed(3, key="k")
    body = encode_event(event)
    raw = ConsumerRecord(
        topic="orders",
        partition=2,
        offset=41,
        timestamp=0,
        timestamp_type=0,
        key=key,
        value=body,
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=len(body),
        headers=[],  # python-cqrs names no event in the headers
    )
    return Delivery(body, None, ("orders", 2), raw)


def test_a_record_outside_any_delivery_gets_no_fields() -> None:
    entry = filtered(record())

    assert "event_id" not in entry
    assert "worker_id" not in entry


def test_a_kafka_delivery_names_its_event_origin_attempt_and_worker() -> None:
    delivery = kafka_delivery(b"k-1")
    delivery.event = codec().decode(delivery.body, None)
    delivery.attempts = 2
    token = bind(delivery, "worker-7")
    try:
        entry = filtered(record())
    finally:
        unbind(token)

    assert {name: entry[name] for name in delivery_fields(delivery, "w")} == {
        "event_id": str(delivery.event.event_id),
        "event_name": "OrderPlaced",  # from the decoded event: no header said so
        "topic": "orders",
        "partition": 2,
        "offset": 41,
        "key": "k-1",
        "attempt": 2,
        "worker_id": "worker-7",
    }
    assert current() is None


def test_before_decoding_the_header_names_the_event_and_the_id_is_unknown() -> None:
    delivery = raw_delivery(b"not json", headers={"event_name": "OrderPlaced"}, offset=5)

    fields = delivery_fields(delivery, "w")

    assert fields["event_name"] == "OrderPlaced"
    assert fields["event_id"] is None
    assert fields["topic"] == "orders"
    assert fields["offset"] == 5
    assert fields["attempt"] == 0


def test_a_key_that_is_not_utf8_is_still_shown() -> None:
    assert delivery_fields(kafka_delivery(b"\xff\xfe"), "w")["key"] == "\\xff\\xfe"


def test_a_rabbitmq_delivery_names_queue_routing_key_tag_and_partition_key() -> None:
    message = OutgoingMessage.from_event(placed(1, key="customer-9"))
    # What AMQPMessageBroker writes: the key travels in a header.
    properties = Basic.Properties(headers={**message.headers, PARTITION_KEY_HEADER: "customer-9"})
    delivered = DeliveredMessage(
        delivery=Basic.Deliver(delivery_tag=12, exchange="events", routing_key="orders"),
        header=ContentHeader(properties=properties),
        body=message.body,
        channel=None,  # type: ignore[arg-type]  # the record never touches the channel
    )
    delivery = Delivery(message.body, None, ("orders-q", "customer-9"))
    tracker: AckTracker = None  # type: ignore[assignment]  # the log fields never read acks
    delivery.raw = RabbitRecord("orders-q", delivered, 12, tracker)

    fields = delivery_fields(delivery, "w")

    assert fields["queue"] == "orders-q"
    assert fields["routing_key"] == "orders"
    assert fields["delivery_tag"] == 12
    assert fields["key"] == "customer-9"


def test_fields_passed_with_extra_win() -> None:
    token = bind(raw_delivery(b"{}"), "worker-7")
    try:
        entry = filtered(record(worker_id="mine", topic="given"))
    finally:
        unbind(token)

    assert entry["worker_id"] == "mine"
    assert entry["topic"] == "given"


async def test_tasks_a_handler_starts_inherit_the_delivery() -> None:
    delivery = raw_delivery(b"{}", offset=8)
    token = bind(delivery, "w")
    try:
        seen = await asyncio.create_task(_current())
    finally:
        unbind(token)

    assert seen is delivery


async def _current() -> Delivery | None:
    return current()


def test_rebind_switches_delivery_and_keeps_the_worker() -> None:
    first, second = raw_delivery(b"{}", offset=1), raw_delivery(b"{}", offset=2)
    token = bind(first, "worker-7")
    try:
        inner = rebind(second)
        entry = filtered(record())
        unbind(inner)
        assert current() is first
        cleared = rebind(None)
        bare = filtered(record())
        unbind(cleared)
    finally:
        unbind(token)

    assert entry["offset"] == 2
    assert entry["worker_id"] == "worker-7"
    assert "offset" not in bare
    assert bare["worker_id"] == "worker-7"


@pytest.mark.parametrize("level", [logging.DEBUG, logging.ERROR])
def test_the_filter_never_drops_a_record(level: int) -> None:
    entry = logging.LogRecord("app", level, __file__, 1, "m", None, None)

    assert LogContextFilter().filter(entry) is True

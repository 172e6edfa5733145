"""Headers and semantic-convention attributes read from each transport's raw message."""

from __future__ import annotations

from typing import Any

from aiokafka.structs import ConsumerRecord
from aiormq.abc import DeliveredMessage
from pamqp.commands import Basic
from pamqp.header import ContentHeader

from cqrs_worker.observability._raw_messages import describe
from cqrs_worker.worker.rabbitmq.record import RabbitRecord

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _record(key: bytes | None, headers: list[tuple[str, bytes]]) -> ConsumerRecord[Any, Any]:
    return ConsumerRecord(
        topic="users",
        partition=2,
        offset=41,
        timestamp=0,
        timestamp_type=0,
        key=key,
        value=b"{}",
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=2,
        headers=headers,
    )


def test_a_kafka_record() -> None:
    headers, attributes, destination = describe(
        _record(
            b"user-7",
            [("traceparent", TRACEPARENT.encode()), ("event_id", b"e-1"), ("bin", b"\xff")],
        )
    )
    assert headers == {"traceparent": TRACEPARENT, "event_id": "e-1"}  # undecodable left out
    assert destination == "users"
    assert attributes == {
        "messaging.system": "kafka",
        "messaging.destination.name": "users",
        "messaging.destination.partition.id": "2",
        "messaging.kafka.offset": 41,
        "messaging.kafka.message.key": "user-7",
    }


def test_a_kafka_record_without_a_text_key() -> None:
    _, attributes, _ = describe(_record(b"\xff\xfe", []))
    assert "messaging.kafka.message.key" not in attributes
    _, attributes, _ = describe(_record(None, []))
    assert "messaging.kafka.message.key" not in attributes


def _rabbit(queue: str, routing_key: str, headers: dict[str, Any]) -> RabbitRecord:
    message = DeliveredMessage(
        delivery=Basic.Deliver(
            consumer_tag="c",
            delivery_tag=9,
            redelivered=False,
            exchange="events",
            routing_key=routing_key,
        ),
        header=ContentHeader(properties=Basic.Properties(headers=headers, message_id="e-2")),
        body=b"{}",
        channel=None,  # type: ignore[arg-type]  # not used to describe it
    )
    return RabbitRecord(queue, message, 9, tracker=None)  # type: ignore[arg-type]  # as above


def test_a_rabbitmq_delivery() -> None:
    headers, attributes, destination = describe(
        _rabbit("meetings.participants", "participants", {"traceparent": TRACEPARENT, "n": 1})
    )
    assert headers == {"traceparent": TRACEPARENT}
    assert destination == "events:participants:meetings.participants"
    assert attributes == {
        "messaging.system": "rabbitmq",
        "messaging.destination.name": "events:participants:meetings.participants",
        "messaging.rabbitmq.destination.routing_key": "participants",
        "messaging.rabbitmq.message.delivery_tag": 9,
        "messaging.message.id": "e-2",
    }


def test_a_rabbitmq_queue_named_like_its_routing_key_is_named_once() -> None:
    _, attributes, _ = describe(_rabbit("participants", "participants", {}))
    assert attributes["messaging.destination.name"] == "events:participants"


def test_anything_else_gets_what_it_has() -> None:
    assert describe(None) == ({}, {"messaging.system": "memory"}, "")

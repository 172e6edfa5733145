import datetime

import aio_pika
from aiormq.abc import DeliveredMessage
from pamqp.commands import Basic
from pamqp.header import ContentHeader

from cqrs_worker.worker.rabbitmq.message_copy import persistent_copy

SENT_AT = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)


def _properties() -> Basic.Properties:
    return Basic.Properties(
        content_type="application/json",
        content_encoding="utf-8",
        headers={"old": "gone"},
        delivery_mode=1,
        priority=7,
        correlation_id="corr-1",
        reply_to="replies",
        expiration="60000",
        message_id="msg-1",
        timestamp=SENT_AT,
        message_type="OrderPlaced",
        user_id="guest",
        app_id="orders",
    )


def _assert_copied(copy: aio_pika.Message) -> None:
    assert copy.body == b"{}"
    assert copy.headers == {"new": "kept"}
    assert copy.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert (copy.content_type, copy.content_encoding) == ("application/json", "utf-8")
    assert (copy.priority, copy.correlation_id, copy.message_id) == (7, "corr-1", "msg-1")
    assert (copy.timestamp, copy.type, copy.app_id) == (SENT_AT, "OrderPlaced", "orders")
    # Routing and expiry belong to the first trip, not to the copy.
    assert (copy.reply_to, copy.expiration, copy.user_id) == (None, None, None)


def test_a_copy_keeps_what_the_publisher_set_and_is_persistent() -> None:
    _assert_copied(persistent_copy(b"{}", {"new": "kept"}, _properties()))


def test_an_aio_pika_message_is_copied_through_its_properties() -> None:
    delivered = DeliveredMessage(
        delivery=Basic.GetOk(delivery_tag=1, exchange="", routing_key="q.dlq", message_count=0),
        header=ContentHeader(properties=_properties()),
        body=b"{}",
        channel=None,  # type: ignore[arg-type]  # never used to read properties
    )
    incoming = aio_pika.IncomingMessage(delivered, no_ack=True)
    _assert_copied(persistent_copy(incoming.body, {"new": "kept"}, incoming.properties))

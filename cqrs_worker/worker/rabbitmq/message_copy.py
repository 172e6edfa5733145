"""A persistent copy of a RabbitMQ delivery: :func:`persistent_copy`."""

from __future__ import annotations

from typing import Any

import aio_pika
import aiormq

__all__ = ["persistent_copy"]


def persistent_copy(
    body: bytes, headers: dict[str, Any], props: aiormq.spec.Basic.Properties
) -> aio_pika.Message:
    """``body`` with the properties of the delivery it came in, new ``headers``, persistent.

    Used for every republish (dead letter, retry stage, replay), so a copy
    keeps what the publisher set: content type and encoding, priority, ids,
    timestamp, type and app id.
    """
    return aio_pika.Message(
        body,
        headers=headers,
        content_type=props.content_type,
        content_encoding=props.content_encoding,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        priority=props.priority,
        correlation_id=props.correlation_id,
        message_id=props.message_id,
        timestamp=props.timestamp,
        type=props.message_type,
        app_id=props.app_id,
    )

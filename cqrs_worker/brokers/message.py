"""The :class:`OutgoingMessage`: what a broker publishes, transport-neutral."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cqrs_worker.envelope import encode_event, event_headers
from cqrs_worker.events import WireEvent

__all__ = ["OutgoingMessage"]


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """Bytes bound for a destination.

    ``destination`` is the Kafka topic, or the AMQP routing key on the
    broker's exchange. ``key`` is the partition key (the Kafka message key),
    which keeps per-key order. ``headers`` values are text.
    """

    destination: str
    body: bytes
    key: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_event(cls, event: WireEvent[Any]) -> OutgoingMessage:
        """The envelope of ``event``, bound for its topic, keyed by its partition key."""
        return cls(
            destination=event.topic,
            body=encode_event(event),
            key=event.partition_key,
            headers=event_headers(event),
        )

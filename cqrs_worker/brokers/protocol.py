"""The :class:`MessageBroker` protocol: the one interface every transport implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from cqrs_worker.brokers.message import OutgoingMessage

__all__ = ["MessageBroker"]


class MessageBroker(Protocol):
    """Publishes messages and says when the broker has them.

    ``publish`` returns only once the broker confirmed every message (Kafka
    acks, AMQP publisher confirms); otherwise it raises
    :class:`~cqrs_worker.errors.PublishError` and the caller still owns the
    messages. Messages with the same ``key`` and destination keep their order.
    """

    async def start(self) -> None:
        """Connect. Raises :class:`~cqrs_worker.errors.PublishError` when unreachable."""
        ...

    async def publish(self, messages: Sequence[OutgoingMessage], /) -> None:
        """Publish ``messages`` (in order per key) and wait for the broker's confirms."""
        ...

    async def close(self) -> None:
        """Flush what is in flight and disconnect."""
        ...

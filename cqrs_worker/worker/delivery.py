"""The :class:`Delivery`: one received message on its way through the pipeline."""

from __future__ import annotations

import datetime
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from cqrs_worker.events import WireEvent

__all__ = ["Delivery"]


@dataclass(slots=True, eq=False)
class Delivery:
    """One received message.

    ``lane`` is the ordering key: deliveries with equal lanes are handled one
    after another, in the order received. ``raw`` is the transport's own
    record (an aiokafka ``ConsumerRecord``, an aio-pika ``IncomingMessage``);
    ``event`` is set once the body decoded.
    """

    body: bytes
    event_name: str | None
    lane: Hashable
    raw: Any = None
    event: WireEvent[Any] | None = None
    attempts: int = 0
    first_failure_at: datetime.datetime | None = None
    last_failure_at: datetime.datetime | None = None
    context: dict[str, Any] = field(default_factory=dict)

"""The :class:`Delivery`: one received message on its way through the pipeline."""

from __future__ import annotations

import datetime
from collections.abc import Hashable
from typing import Any

from cqrs_worker.events import WireEvent

__all__ = ["Delivery"]


class Delivery:
    """One received message.

    ``lane`` is the ordering key: deliveries with equal lanes are handled one
    after another, in the order received. ``raw`` is the transport's own
    record (an aiokafka ``ConsumerRecord``, an aio-pika ``IncomingMessage``);
    ``origin`` is what the source keeps to finish it (the Kafka source: the
    partition state it was fetched under). ``event`` is set once the body
    decoded; ``attempts`` counts the handling attempts made, and the failure
    times are set by the first and the last failed one. ``duplicate`` is set
    by a middleware that recognised the event as handled before (the inbox):
    it is acknowledged without handlers and counted apart. ``context`` is a
    dict for middlewares (made on first use: most deliveries never need one).

    A plain class rather than a dataclass: sources build one per message,
    and this ``__init__`` costs half of what the dataclass one did.
    """

    __slots__ = (
        "_context",
        "attempts",
        "body",
        "duplicate",
        "event",
        "event_name",
        "first_failure_at",
        "lane",
        "last_failure_at",
        "origin",
        "raw",
    )

    def __init__(
        self,
        body: bytes,
        event_name: str | None,
        lane: Hashable,
        raw: Any = None,
        origin: Any = None,
        *,
        context: dict[str, Any] | None = None,
    ) -> None:
        self.body = body
        self.event_name = event_name
        self.lane = lane
        self.raw = raw
        self.origin = origin
        self.event: WireEvent[Any] | None = None
        self.attempts = 0
        self.first_failure_at: datetime.datetime | None = None
        self.last_failure_at: datetime.datetime | None = None
        self.duplicate = False
        self._context = context

    @property
    def name(self) -> str | None:
        """The event's name: the decoded event's, else the ``event_name`` header's.

        python-cqrs producers send no such header; their events are named in
        the body, so only the decoded event knows.
        """
        event = self.event
        return event.event_name if event is not None else self.event_name

    @property
    def context(self) -> dict[str, Any]:
        context = self._context
        if context is None:
            context = self._context = {}
        return context

    def __repr__(self) -> str:
        return f"<Delivery {self.name or 'unnamed'} lane={self.lane!r} attempts={self.attempts}>"

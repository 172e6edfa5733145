"""Turning a delivery's bytes into its typed event."""

from __future__ import annotations

from typing import Literal

from cqrs_worker.envelope import EnvelopeCodec
from cqrs_worker.errors import UnknownEventError
from cqrs_worker.middleware import CallNext
from cqrs_worker.worker.delivery import Delivery
from cqrs_worker.worker.stats import WorkerStats

__all__ = ["DecodeMiddleware"]


class DecodeMiddleware:
    """Sets ``delivery.event``; a :class:`~cqrs_worker.errors.DecodeError` propagates
    to the dead-letter middleware, except an unknown event name under the ``"ack"``
    policy, which ends the delivery here (acknowledged and counted)."""

    def __init__(
        self,
        codec: EnvelopeCodec,
        *,
        on_unknown_event: Literal["ack", "dead-letter"],
        stats: WorkerStats,
    ) -> None:
        self._decode = codec.decode
        self._ack_unknown = on_unknown_event == "ack"
        self._stats = stats

    async def __call__(self, delivery: Delivery, call_next: CallNext, /) -> None:
        try:
            delivery.event = self._decode(delivery.body, delivery.event_name)
        except UnknownEventError:
            if not self._ack_unknown:
                raise
            self._stats.unknown += 1
            return
        await call_next(delivery)

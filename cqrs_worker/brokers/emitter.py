"""The direct emitter: :class:`BrokerEventEmitter` publishes emitted events straight away."""

from __future__ import annotations

from typing import Any

from cqrs_worker.brokers.message import OutgoingMessage
from cqrs_worker.brokers.protocol import MessageBroker
from cqrs_worker.events import WireEvent

__all__ = ["BrokerEventEmitter"]


class BrokerEventEmitter:
    """An :class:`~cqrs_worker.EventEmitter` that publishes each event to a broker.

    Delivery is **at-most-once relative to the handler's own effects**. The
    mediator emits after the handler returned, so the handler's effects (say,
    a committed database transaction) already happened when the event is
    published. A crash, a cancellation or a
    :class:`~cqrs_worker.errors.PublishError` in between loses the event while
    the effects stay; the error reaches the caller of ``send``, but retrying the
    whole request would repeat those effects. When an event must not be lost,
    write it with the outbox emitter, in the handler's transaction
    (:mod:`cqrs_worker.outbox`): the relay then publishes it at least once.

    The message is :meth:`OutgoingMessage.from_event`: bound for the event's
    ``topic``, keyed by its ``partition_key``, with the envelope headers. The
    broker must be started (and closed) by its owner.
    """

    def __init__(self, broker: MessageBroker) -> None:
        self.broker = broker

    async def emit(self, event: WireEvent[Any], /) -> None:
        await self.broker.publish([OutgoingMessage.from_event(event)])

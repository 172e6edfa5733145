"""What a RabbitMQ delivery carries through the pipeline: :class:`RabbitRecord`."""

from __future__ import annotations

from aiormq.abc import DeliveredMessage

from cqrs_worker.worker.rabbitmq.acks import AckTracker

__all__ = ["RabbitRecord"]


class RabbitRecord:
    """The ``raw`` of a RabbitMQ :class:`~cqrs_worker.worker.delivery.Delivery`.

    ``message`` is aiormq's delivered message (body, properties, delivery
    tag, exchange, routing key); ``queue`` the queue it came from;
    ``tracker`` the acknowledgement state of the channel it arrived on.
    """

    __slots__ = ("message", "queue", "tag", "tracker")

    def __init__(
        self, queue: str, message: DeliveredMessage, tag: int, tracker: AckTracker
    ) -> None:
        self.queue = queue
        self.message = message
        self.tag = tag
        self.tracker = tracker

    @property
    def exchange(self) -> str:
        return str(getattr(self.message.delivery, "exchange", "") or "")

    @property
    def routing_key(self) -> str:
        return str(getattr(self.message.delivery, "routing_key", "") or "")

    @property
    def redelivered(self) -> bool:
        """RabbitMQ delivered this message before (to us or another consumer)."""
        return bool(getattr(self.message.delivery, "redelivered", False))

    def __repr__(self) -> str:
        return f"<RabbitRecord {self.queue}#{self.tag}>"

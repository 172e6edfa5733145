"""Which RabbitMQ queues a worker consumes, and what they are bound to: :class:`QueueSpec`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cqrs_worker.errors import ConfigurationError

__all__ = ["QueueSpec", "queue_specs"]


@dataclass(frozen=True, slots=True)
class QueueSpec:
    """A durable queue to consume, bound to the events exchange with ``routing_keys``.

    Routing keys are binding patterns of the topic exchange (``orders``,
    ``orders.*``, ``#``); our publishers use the event's ``topic`` as the
    routing key. ``QueueSpec.of("orders")`` is the queue ``orders`` bound with
    the routing key ``orders``.
    """

    name: str
    routing_keys: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.name:
            raise ConfigurationError("a RabbitMQ queue needs a name")

    @classmethod
    def of(cls, queue: QueueSpec | str) -> QueueSpec:
        """``queue`` itself, or the queue of that name bound with the routing key of that name."""
        return queue if isinstance(queue, QueueSpec) else cls(queue, (queue,))


def queue_specs(
    *, topics: Sequence[str], queues: Sequence[str] = (), group_id: str | None = None
) -> tuple[QueueSpec, ...]:
    """The queues the worker settings describe.

    With ``queues`` (``CQRS_WORKER_QUEUES``): those queues, each bound with
    every topic as its routing key. Without: one queue per topic,
    ``<group_id>.<topic>``, bound with the topic; workers sharing a group id
    share the queues (competing consumers), other groups get their own copy.
    """
    if queues:
        return tuple(QueueSpec(name, tuple(topics)) for name in dict.fromkeys(queues))
    if group_id is None:
        raise ConfigurationError(
            "RabbitMQ needs queue names: set CQRS_WORKER_GROUP_ID (--group-id) to consume "
            "from <group-id>.<topic> queues, or name the queues with CQRS_WORKER_QUEUES (--queues)"
        )
    return tuple(QueueSpec(f"{group_id}.{topic}", (topic,)) for topic in topics)

"""Which topics a worker subscribes to: :func:`subscribed_topics`."""

from __future__ import annotations

from collections.abc import Sequence

from cqrs_worker.errors import ConfigurationError
from cqrs_worker.maps import EventMap, topic_of

__all__ = ["subscribed_topics"]


def subscribed_topics(event_map: EventMap, configured: Sequence[str] = ()) -> tuple[str, ...]:
    """``configured`` when given, else the ``topic`` default of every bound broker event class.

    Raises :class:`~cqrs_worker.errors.ConfigurationError` naming the first
    class without a default topic, or when nothing at all is bound.
    """
    if configured:
        return tuple(dict.fromkeys(configured))
    topics: dict[str, None] = {}
    for event_type in event_map.names():
        topic = topic_of(event_type)
        if topic is None:
            raise ConfigurationError(
                f"{event_type.__qualname__} declares no default topic, so the worker cannot "
                f"tell where to read it from; give its `topic` field a default "
                f'(topic: str = "orders") or list the topics with CQRS_WORKER_TOPICS / --topics'
            )
        topics[topic] = None
    if not topics:
        raise ConfigurationError(
            "the EventMap binds no NotificationEvent/ECSTEvent class, so there is nothing to "
            "subscribe to; bind handlers for broker events or set CQRS_WORKER_TOPICS / --topics"
        )
    return tuple(topics)

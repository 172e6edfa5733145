"""Topics from the settings, else from the event classes bound in the EventMap."""

from __future__ import annotations

import pytest

from cqrs_worker import EventMap, NotificationEvent
from cqrs_worker.errors import ConfigurationError
from cqrs_worker.worker.topics import subscribed_topics
from tests.unit.worker.sample import Order, OrderPlaced, RecordOrder, Shipped


class NoTopic(NotificationEvent[Order]):
    event_name: str = "NoTopic"


def _map(*event_types: type[NotificationEvent[Order]]) -> EventMap:
    events = EventMap()
    for event_type in event_types:
        events.bind(event_type, RecordOrder)
    return events


def test_topics_come_from_the_event_classes_in_bind_order_without_repeats() -> None:
    class AlsoOrders(NotificationEvent[Order]):
        event_name: str = "AlsoOrders"
        topic: str = "orders"

    assert subscribed_topics(_map(OrderPlaced, Shipped, AlsoOrders)) == ("orders", "shipments")


def test_configured_topics_win() -> None:
    assert subscribed_topics(_map(NoTopic), ("x", "y", "x")) == ("x", "y")


def test_a_class_without_a_default_topic_is_named() -> None:
    with pytest.raises(ConfigurationError, match=r"NoTopic declares no default topic.*TOPICS"):
        subscribed_topics(_map(OrderPlaced, NoTopic))


def test_a_parametrized_class_bound_by_name_needs_configured_topics() -> None:
    events = EventMap()
    events.bind(NotificationEvent[Order], RecordOrder, event_name="Placed")

    with pytest.raises(ConfigurationError, match="no default topic"):
        subscribed_topics(events)
    assert subscribed_topics(events, ("orders",)) == ("orders",)


def test_a_map_without_broker_events_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="binds no NotificationEvent/ECSTEvent"):
        subscribed_topics(EventMap())

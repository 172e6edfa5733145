"""Which queues the settings describe."""

from __future__ import annotations

import pytest

from cqrs_worker.errors import ConfigurationError
from cqrs_worker.worker.rabbitmq import QueueSpec, queue_specs


def test_one_queue_per_topic_prefixed_by_the_group() -> None:
    assert queue_specs(topics=("orders", "users"), group_id="billing") == (
        QueueSpec("billing.orders", ("orders",)),
        QueueSpec("billing.users", ("users",)),
    )


def test_named_queues_are_bound_with_every_topic() -> None:
    assert queue_specs(topics=("orders", "users"), queues=("a", "b", "a")) == (
        QueueSpec("a", ("orders", "users")),
        QueueSpec("b", ("orders", "users")),
    )


def test_without_a_group_or_queue_names_it_says_what_to_set() -> None:
    with pytest.raises(ConfigurationError, match=r"CQRS_WORKER_GROUP_ID.*CQRS_WORKER_QUEUES"):
        queue_specs(topics=("orders",))


def test_a_plain_name_is_a_queue_bound_with_that_routing_key() -> None:
    assert QueueSpec.of("orders") == QueueSpec("orders", ("orders",))
    spec = QueueSpec("q", ("orders.*",))
    assert QueueSpec.of(spec) is spec
    with pytest.raises(ConfigurationError):
        QueueSpec("", ())

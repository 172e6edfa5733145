"""AMQPMessageBroker rejects settings it cannot use when built, before any connection."""

from __future__ import annotations

from typing import Any

import pytest

from cqrs_worker.brokers import AMQPMessageBroker
from cqrs_worker.errors import ConfigurationError

URL = "amqp://guest:guest@127.0.0.1:5672/"


def test_an_unknown_exchange_type_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="'topics' is not an AMQP exchange type"):
        AMQPMessageBroker(URL, exchange_type="topics")


def test_an_unknown_routing_is_a_configuration_error() -> None:
    routing: Any = "name"
    with pytest.raises(ConfigurationError, match="routing must be"):
        AMQPMessageBroker(URL, routing=routing)

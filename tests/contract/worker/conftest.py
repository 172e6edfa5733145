"""The ``transport`` fixture: each contract test runs in memory, on Kafka and on RabbitMQ."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.contract.worker.transports import (
    KafkaTransport,
    MemoryTransport,
    RabbitTransport,
    Transport,
)


@pytest.fixture(
    params=[
        "memory",
        pytest.param("kafka", marks=pytest.mark.kafka),
        pytest.param("rabbitmq", marks=pytest.mark.rabbitmq),
    ]
)
async def transport(request: pytest.FixtureRequest) -> AsyncIterator[Transport]:
    """A fresh consuming world (topics, group) on one transport."""
    world: Transport
    if request.param == "kafka":
        world = KafkaTransport(request.getfixturevalue("kafka_bootstrap"))
    elif request.param == "rabbitmq":
        world = RabbitTransport(request.getfixturevalue("rabbitmq_url"))
    else:
        world = MemoryTransport()
    try:
        yield world
    finally:
        await world.close()


@pytest.fixture(
    params=[
        pytest.param("kafka", marks=pytest.mark.kafka),
        pytest.param("rabbitmq", marks=pytest.mark.rabbitmq),
    ]
)
async def broker_transport(request: pytest.FixtureRequest) -> AsyncIterator[Transport]:
    """Like ``transport``, on the real brokers only (for what needs several consumer groups)."""
    world: Transport
    if request.param == "kafka":
        world = KafkaTransport(request.getfixturevalue("kafka_bootstrap"))
    else:
        world = RabbitTransport(request.getfixturevalue("rabbitmq_url"))
    try:
        yield world
    finally:
        await world.close()

"""Fixtures of the KafkaSource integration tests: a fresh topic, its dead-letter topic, a group."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.integration.worker.kafka.harness import KafkaRig, MakeRig
from tests.support.kafka import create_topic, unique_topic
from tests.support.names import unique_name


@pytest.fixture
async def make_rig(kafka_bootstrap: str, request: pytest.FixtureRequest) -> AsyncIterator[MakeRig]:
    """``await make_rig(partitions=4)``: a topic (and ``<topic>.dlq``) and group of its own."""
    rigs: list[KafkaRig] = []

    async def make(partitions: int = 4) -> KafkaRig:
        topic = await create_topic(kafka_bootstrap, unique_topic(request.node.name), partitions)
        await create_topic(kafka_bootstrap, f"{topic}.dlq", 1)
        rig = KafkaRig(
            bootstrap=kafka_bootstrap,
            topic=topic,
            group=unique_name("group"),
            partitions=partitions,
        )
        rigs.append(rig)
        return rig

    try:
        yield make
    finally:
        for rig in rigs:
            await rig.stop_all()


@pytest.fixture
async def rig(make_rig: MakeRig) -> KafkaRig:
    """A 4-partition topic with its dead-letter topic and a fresh consumer group."""
    return await make_rig(4)

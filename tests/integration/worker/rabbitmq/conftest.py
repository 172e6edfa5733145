from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.integration.worker.rabbitmq.harness import RabbitWorld


@pytest.fixture
async def world(rabbitmq_url: str) -> AsyncIterator[RabbitWorld]:
    """Fresh exchange/queue names for this test; all of them deleted at the end."""
    rabbit = RabbitWorld(rabbitmq_url)
    try:
        yield rabbit
    finally:
        await rabbit.cleanup()

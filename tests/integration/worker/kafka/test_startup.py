"""KafkaSource start-up: clear errors within a bounded time, readiness, shutdown."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from cqrs_worker.errors import ConfigurationError
from tests.integration.worker.kafka.harness import KafkaRig, item
from tests.support.net import LOOPBACK, free_port
from tests.support.waiting import async_wait_until


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP port that accepts connections and never answers (a hung or wrong server)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind((LOOPBACK, 0))
        server.listen(16)
        yield f"{LOOPBACK}:{server.getsockname()[1]}"


async def test_an_unreachable_bootstrap_fails_fast_naming_the_address(rig: KafkaRig) -> None:
    address = f"{LOOPBACK}:{free_port()}"
    rig.bootstrap = address
    source = rig.source()
    began = time.monotonic()

    with pytest.raises(ConfigurationError) as raised:
        await source.start()

    assert time.monotonic() - began < 5
    message = str(raised.value)
    assert f"cannot connect to Kafka at {address}" in message
    assert "CQRS_WORKER_KAFKA_BOOTSTRAP" in message
    assert not source.ready()


async def test_a_server_that_never_answers_fails_within_the_start_timeout(
    rig: KafkaRig, silent_server: str
) -> None:
    rig.bootstrap = silent_server
    source = rig.source(start_timeout=1.5)
    began = time.monotonic()

    with pytest.raises(ConfigurationError, match=f"Kafka at {silent_server} did not answer"):
        await source.start()

    assert time.monotonic() - began < 5


async def test_ready_once_partitions_are_assigned_and_not_after_stop(rig: KafkaRig) -> None:
    source = rig.source()
    assert not source.ready()

    await rig.start(source)
    assert source.ready()

    await rig.stop(source)
    assert not source.ready()


async def test_a_static_member_consumes(rig: KafkaRig) -> None:
    # Tansu answers a static member's JoinGroup and SyncGroup after ~3 s each,
    # so this test joins once (a rejoin with the same id would take as long).
    await rig.produce([item(rig.topic, "k", n) for n in range(10)])
    source = await rig.start(rig.source(instance_id="pod-0"))

    await rig.handled(10)

    assert source.ready()
    assert [seq for _, seq in rig.journal.handled] == list(range(10))


async def test_stop_returns_within_its_timeout_when_a_handler_hangs(rig: KafkaRig) -> None:
    await rig.produce([item(rig.topic, "k", 1, block=True)])
    source = await rig.start()
    await async_wait_until(lambda: bool(rig.journal.blocked), timeout=10)

    began = time.monotonic()
    await rig.stop(source, timeout=0.3)

    assert time.monotonic() - began < 3
    assert rig.stats.handled == 0

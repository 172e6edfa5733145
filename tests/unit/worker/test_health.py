"""The health server over real loopback HTTP, alone and inside a running worker."""

from __future__ import annotations

import asyncio
import http.client
from collections.abc import AsyncIterator

import pytest

from cqrs_worker.errors import ConfigurationError
from cqrs_worker.worker.app import Worker
from cqrs_worker.worker.health import HealthServer, probe
from cqrs_worker.worker.settings import WorkerSettings
from tests.support.net import free_port
from tests.unit.worker.sample import mediator
from tests.unit.worker.test_app import Memory


class State:
    live: str | None = None
    ready: str | None = "not ready: kafka"


@pytest.fixture
async def server() -> AsyncIterator[tuple[HealthServer, State]]:
    state = State()
    health = HealthServer(
        host="127.0.0.1",
        port=0,
        live=lambda: state.live,
        ready=lambda: state.ready,
        metrics=lambda: (b"cqrs_worker_handled_total 3\n", "text/plain; version=1.0.0"),
    )
    await health.start()
    try:
        yield health, state
    finally:
        await health.close()


async def get(port: int, path: str) -> tuple[int, str]:
    return await asyncio.to_thread(probe, "127.0.0.1", port, path, timeout=5)


async def test_livez_answers_200_while_live_and_503_with_the_reason(
    server: tuple[HealthServer, State],
) -> None:
    health, state = server

    assert await get(health.port, "/livez") == (200, "ok\n")
    state.live = "the kafka source failed: boom"
    assert await get(health.port, "/livez") == (503, "the kafka source failed: boom\n")


async def test_readyz_names_what_is_not_ready(server: tuple[HealthServer, State]) -> None:
    health, state = server

    assert await get(health.port, "/readyz") == (503, "not ready: kafka\n")
    state.ready = None
    assert await get(health.port, "/readyz?verbose=1") == (200, "ok\n")


async def test_metrics_and_unknown_paths(server: tuple[HealthServer, State]) -> None:
    health, _ = server

    assert await get(health.port, "/metrics") == (200, "cqrs_worker_handled_total 3\n")
    status, _ = await get(health.port, "/nope")
    assert status == 404


async def test_only_get_and_head_are_answered(server: tuple[HealthServer, State]) -> None:
    health, _ = server
    reader, writer = await asyncio.open_connection("127.0.0.1", health.port)
    writer.write(b"POST /livez HTTP/1.1\r\nHost: x\r\n\r\n")
    response = await reader.read()
    writer.close()
    assert response.startswith(b"HTTP/1.1 405 ")

    reader, writer = await asyncio.open_connection("127.0.0.1", health.port)
    writer.write(b"HEAD /livez HTTP/1.1\r\nHost: x\r\n\r\n")
    response = await reader.read()
    writer.close()
    assert response.startswith(b"HTTP/1.1 200 OK\r\n")
    assert response.endswith(b"\r\n\r\n")  # headers only


async def test_probe_raises_when_nothing_listens() -> None:
    with pytest.raises(ConnectionRefusedError):
        await asyncio.to_thread(probe, "127.0.0.1", free_port(), "/livez", timeout=2)


async def test_a_running_worker_is_live_and_ready_and_stops_serving_after_stop() -> None:
    port = free_port()
    worker = Worker(
        mediator(),
        WorkerSettings(health_port=port, health_host="127.0.0.1", shutdown_timeout=1),
        sources=[Memory()],
    )

    async with worker.running():
        assert await get(port, "/livez") == (200, "ok\n")
        assert await get(port, "/readyz") == (200, "ok\n")
        status, body = await get(port, "/metrics")
        assert status == 200
        assert 'cqrs_worker_ready{source="memory"} 1.0' in body

    with pytest.raises(ConnectionRefusedError):
        await get(port, "/livez")


async def test_a_taken_health_port_is_a_configuration_error() -> None:
    blocker = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = blocker.sockets[0].getsockname()[1]
    try:
        worker = Worker(
            mediator(),
            WorkerSettings(health_port=port, health_host="127.0.0.1"),
            sources=[Memory()],
        )
        with pytest.raises(ConfigurationError, match="CQRS_WORKER_HEALTH_PORT"):
            await worker.run()
    finally:
        blocker.close()
        await blocker.wait_closed()


async def test_a_failing_metrics_callable_answers_500_and_the_server_lives_on() -> None:
    def broken() -> tuple[bytes, str]:
        raise RuntimeError("collector bug")

    health = HealthServer(
        host="127.0.0.1", port=0, live=lambda: None, ready=lambda: None, metrics=broken
    )
    await health.start()
    try:
        assert (await get(health.port, "/metrics"))[0] == 500
        assert await get(health.port, "/livez") == (200, "ok\n")
    finally:
        await health.close()


async def test_metrics_carry_their_own_content_type(server: tuple[HealthServer, State]) -> None:
    health, _ = server

    def content_type() -> str | None:
        connection = http.client.HTTPConnection("127.0.0.1", health.port, timeout=5)
        try:
            connection.request("GET", "/metrics")
            return connection.getresponse().getheader("Content-Type")
        finally:
            connection.close()

    assert await asyncio.to_thread(content_type) == "text/plain; version=1.0.0"

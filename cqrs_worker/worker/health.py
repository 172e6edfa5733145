"""Health for Kubernetes: a tiny HTTP server (:class:`HealthServer`) and its client (:func:`probe`).

Endpoints, on ``CQRS_WORKER_HEALTH_PORT`` (default 8080; 0 turns it off):

* ``GET /livez`` — 200 while the event loop turns and the worker is not
  wedged (no source crashed, the loop is not starved); 503 otherwise, and
  the kubelet restarts the pod.
* ``GET /readyz`` — 200 only when every source is ready (connected; on
  Kafka, partitions assigned); 503 naming the sources that are not. A
  stopping worker is not ready.
* ``GET /metrics`` — the worker's counters in Prometheus text format.

Probes, either over HTTP::

    livenessProbe:
      httpGet: {path: /livez, port: 8080}
      periodSeconds: 10
      failureThreshold: 3
    readinessProbe:
      httpGet: {path: /readyz, port: 8080}
      periodSeconds: 5

or as exec probes (``cqrs-worker check`` exits 0 when healthy, 1 otherwise)::

    livenessProbe:
      exec: {command: ["cqrs-worker", "check", "--live"]}
    readinessProbe:
      exec: {command: ["cqrs-worker", "check", "--ready"]}

Keep ``initialDelaySeconds``/``startupProbe`` above the time a consumer
group join takes; readiness goes false during a rebalance and an outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from cqrs_worker.errors import ConfigurationError

if TYPE_CHECKING:
    from cqrs_worker.worker.settings import WorkerSettings

__all__ = ["HealthServer", "probe", "prometheus_text", "serve_health"]

logger = logging.getLogger(__name__)

#: A check: ``None`` when healthy, else what is wrong (the 503 body).
Check = Callable[[], str | None]

_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}
_READ_TIMEOUT = 5.0
_MAX_HEADER_BYTES = 16_384


class HealthServer:
    """Serves ``/livez``, ``/readyz`` and ``/metrics`` from the three callables."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        live: Check,
        ready: Check,
        metrics: Callable[[], str],
    ) -> None:
        self._host = host
        self._port = port
        self._routes: dict[str, Callable[[], tuple[int, str]]] = {
            "/livez": lambda: _status(live()),
            "/readyz": lambda: _status(ready()),
            "/metrics": lambda: (200, metrics()),
        }
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        """The port listened on (the chosen one when started with port 0)."""
        if self._server is None or not self._server.sockets:
            return self._port
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        """Listen; raises ``OSError`` when the port is taken."""
        self._server = await asyncio.start_server(self._serve, self._host, self._port)
        logger.info(
            "health endpoints on http://%s:%d/livez, /readyz, /metrics", self._host, self.port
        )

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            with contextlib.suppress(Exception):
                await server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(_READ_TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            writer.close()
            return
        try:
            status, body, send_body = self._answer(head[:_MAX_HEADER_BYTES])
            data = body.encode()
            writer.write(
                f"HTTP/1.1 {status} {_REASONS[status]}\r\n"
                f"Content-Type: text/plain; charset=utf-8\r\n"
                f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
                + (data if send_body else b"")
            )
            await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    def _answer(self, head: bytes) -> tuple[int, str, bool]:
        method, _, rest = head.decode("latin-1").partition(" ")
        path = rest.partition(" ")[0].partition("?")[0]
        if method not in ("GET", "HEAD"):
            return 405, "only GET and HEAD\n", True
        route = self._routes.get(path)
        if route is None:
            return 404, "try /livez, /readyz or /metrics\n", method == "GET"
        status, body = route()
        return status, body, method == "GET"


async def serve_health(
    settings: WorkerSettings, *, live: Check, ready: Check, metrics: Callable[[], str]
) -> HealthServer:
    """A started server on ``settings.health_host:health_port``; a taken port says what to set."""
    server = HealthServer(
        host=settings.health_host,
        port=settings.health_port,
        live=live,
        ready=ready,
        metrics=metrics,
    )
    try:
        await server.start()
    except OSError as exc:
        raise ConfigurationError(
            f"cannot serve health checks on {settings.health_host}:{settings.health_port} "
            f"({exc}); set CQRS_WORKER_HEALTH_PORT (--health-port) to a free port, or 0 to "
            f"turn it off"
        ) from exc
    return server


def prometheus_text(counters: Mapping[str, int], ready: Mapping[str, bool]) -> str:
    """Counters as ``cqrs_worker_<name>_total`` and per-source readiness, Prometheus text."""
    lines = []
    for name, value in counters.items():
        lines += [f"# TYPE cqrs_worker_{name}_total counter", f"cqrs_worker_{name}_total {value}"]
    lines.append("# TYPE cqrs_worker_source_ready gauge")
    lines += [
        f'cqrs_worker_source_ready{{source="{name}"}} {int(up)}' for name, up in ready.items()
    ]
    return "\n".join(lines) + "\n"


def _status(problem: str | None) -> tuple[int, str]:
    return (200, "ok\n") if problem is None else (503, f"{problem}\n")


def probe(host: str, port: int, path: str, *, timeout: float = 5.0) -> tuple[int, str]:
    """GET ``path``; the status code and body. Raises ``OSError`` when nothing answers."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        connection.close()

"""Health for Kubernetes: a tiny HTTP server (:class:`HealthServer`) and its client (:func:`probe`).

Endpoints, on ``CQRS_WORKER_HEALTH_PORT`` (default 8080; 0 turns it off):

* ``GET /livez`` — 200 while the event loop turns and the worker is not
  wedged (no source crashed, the loop is not starved, no handling attempt
  running past ``LIVENESS_STUCK_AFTER``); 503 otherwise, and the kubelet
  restarts the pod.
* ``GET /readyz`` — 200 only when every source is ready (connected; on
  Kafka, partitions assigned); 503 naming the sources that are not. A
  stopping worker is not ready.
* ``GET /metrics`` — the worker's metrics in the Prometheus text format
  (served with its content type; the families are in the README).

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
from collections.abc import Callable
from typing import TYPE_CHECKING

from cqrs_worker.errors import ConfigurationError

if TYPE_CHECKING:
    from cqrs_worker.worker.settings import WorkerSettings

__all__ = ["Exposition", "HealthServer", "probe", "serve_health"]

logger = logging.getLogger(__name__)

#: A check: ``None`` when healthy, else what is wrong (the 503 body).
Check = Callable[[], str | None]
#: The metrics endpoint: the body and its content type.
Exposition = Callable[[], tuple[bytes, str]]

_TEXT = "text/plain; charset=utf-8"
_REASONS = {
    200: "OK",
    404: "Not Found",
    405: "Method Not Allowed",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
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
        metrics: Exposition,
    ) -> None:
        self._host = host
        self._port = port
        self._routes: dict[str, Callable[[], tuple[int, bytes, str]]] = {
            "/livez": lambda: _status(live()),
            "/readyz": lambda: _status(ready()),
            "/metrics": lambda: (200, *metrics()),
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
            status, data, content_type, send_body = self._answer(head[:_MAX_HEADER_BYTES])
            writer.write(
                f"HTTP/1.1 {status} {_REASONS[status]}\r\n"
                f"Content-Type: {content_type}\r\n"
                f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
                + (data if send_body else b"")
            )
            await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    def _answer(self, head: bytes) -> tuple[int, bytes, str, bool]:
        method, _, rest = head.decode("latin-1").partition(" ")
        path = rest.partition(" ")[0].partition("?")[0]
        if method not in ("GET", "HEAD"):
            return 405, b"only GET and HEAD\n", _TEXT, True
        route = self._routes.get(path)
        if route is None:
            return 404, b"try /livez, /readyz or /metrics\n", _TEXT, method == "GET"
        try:
            status, body, content_type = route()
        except Exception:  # a failing collector answers 500; it never stops the server
            logger.exception("answering %s failed", path)
            return 500, b"internal error; see the worker's log\n", _TEXT, method == "GET"
        return status, body, content_type, method == "GET"


async def serve_health(
    settings: WorkerSettings, *, live: Check, ready: Check, metrics: Exposition
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


def _status(problem: str | None) -> tuple[int, bytes, str]:
    if problem is None:
        return 200, b"ok\n", _TEXT
    return 503, f"{problem}\n".encode(), _TEXT


def probe(host: str, port: int, path: str, *, timeout: float = 5.0) -> tuple[int, str]:
    """GET ``path``; the status code and body. Raises ``OSError`` when nothing answers."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        connection.close()

"""The running relay's health server: ``/livez``, ``/readyz``, ``/metrics`` (:func:`relay_health`).

On ``CQRS_WORKER_RELAY_HEALTH_HOST:CQRS_WORKER_RELAY_HEALTH_PORT`` (default
``0.0.0.0:8081``; port 0 turns it off), the same server as the worker's
(:class:`~cqrs_worker.worker.health.HealthServer`), so ``cqrs-worker check
--port 8081`` probes a relay too:

* ``/livez`` -- 200 while the relay makes progress; 503 when it made none for
  ``CQRS_WORKER_RELAY_LIVENESS_STUCK_AFTER`` seconds (default 300, 0 off);
* ``/readyz`` -- 200 while the database answers and the broker confirms; 503
  naming the dependency that is down (``database``, ``broker``), or while
  stopping;
* ``/metrics`` -- :class:`~cqrs_worker.observability.relay.RelayMetrics`.

Kubernetes probes for the relay::

    livenessProbe:
      httpGet: {path: /livez, port: 8081}
    readinessProbe:
      httpGet: {path: /readyz, port: 8081}
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from cqrs_worker.errors import ConfigurationError
from cqrs_worker.observability.relay import RelayMetrics
from cqrs_worker.outbox.relay import EventProducer
from cqrs_worker.worker.health import HealthServer

__all__ = ["relay_health"]


@contextlib.asynccontextmanager
async def relay_health(producer: EventProducer) -> AsyncIterator[HealthServer | None]:
    """Serve ``producer``'s health and metrics while the block runs (``None``: turned off).

    Call before ``producer.run()``: the metrics become its observer. A taken
    port is a :class:`~cqrs_worker.errors.ConfigurationError` naming the setting.
    """
    settings = producer.settings
    if settings.health_port == 0:
        yield None
        return
    metrics = RelayMetrics(producer.readiness)
    producer.observer = metrics
    server = HealthServer(
        host=settings.health_host,
        port=settings.health_port,
        live=lambda: producer.readiness.live(settings.liveness_stuck_after),
        ready=producer.readiness.check,
        metrics=metrics.exposition,
    )
    try:
        await server.start()
    except OSError as exc:
        raise ConfigurationError(
            f"cannot serve the relay's health checks on {settings.health_host}:"
            f"{settings.health_port} ({exc}); set CQRS_WORKER_RELAY_HEALTH_PORT "
            f"(--health-port) to a free port, or 0 to turn it off"
        ) from exc
    polling = asyncio.create_task(
        metrics.poll(producer.engine, producer.repository, interval=settings.metrics_interval)
    )
    try:
        yield server
    finally:
        polling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await polling
        await server.close()

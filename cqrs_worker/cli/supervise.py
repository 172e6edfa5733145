"""``cqrs-worker run --workers N``: the children's command lines, the supervisor and its
health server (the children's health and metrics summed up on ``HEALTH_PORT``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from typing import Any

from cqrs_worker.errors import ConfigurationError
from cqrs_worker.process import ChildHealth, ChildPlan, Supervisor, child_argv, child_health_port
from cqrs_worker.worker.health import HealthServer
from cqrs_worker.worker.settings import WorkerSettings

__all__ = ["supervise"]

_MAX_PORT = 65_535


def supervise(
    args: argparse.Namespace, flags: dict[str, Any], settings: WorkerSettings, workers: int
) -> int:
    """Run ``workers`` children of ``cqrs-worker run`` with ``flags``; the command's exit code.

    The target is imported by the children only: the supervisor stays small.
    """
    port = settings.health_port
    last = child_health_port(port, workers - 1)
    if port and last > _MAX_PORT:
        raise ConfigurationError(
            f"CQRS_WORKER_HEALTH_PORT (--health-port): with {workers} workers it needs ports "
            f"{port} to {last}; choose {port - (last - _MAX_PORT)} or lower"
        )
    plan = ChildPlan(
        target=args.target,
        factory=args.factory,
        flags=flags,
        worker_id=settings.worker_id,
        instance_id=settings.group_instance_id,
        health_port=port,
    )
    supervisor = Supervisor(workers=workers, argv_of=lambda n: child_argv(plan, n))
    return asyncio.run(_run(supervisor, settings, workers))


async def _run(supervisor: Supervisor, settings: WorkerSettings, workers: int) -> int:
    port = settings.health_port
    if not port:
        return await supervisor.run()
    health = ChildHealth(
        host=settings.health_host,
        ports={n: child_health_port(port, n) for n in range(workers)},
        running=supervisor.running,
    )
    server = HealthServer(
        host=settings.health_host,
        port=port,
        live=health.live,
        ready=lambda: "stopping" if supervisor.stopping else health.ready(),
        metrics=health.metrics,
    )
    try:
        await server.start()
    except OSError as exc:
        raise ConfigurationError(
            f"cannot serve health checks on {settings.health_host}:{port} ({exc}); set "
            f"CQRS_WORKER_HEALTH_PORT (--health-port) to a free port (the workers take the "
            f"{workers} above it), or 0 to turn it off"
        ) from exc
    polling = asyncio.create_task(health.run())
    try:
        return await supervisor.run()
    finally:
        polling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await polling
        await server.close()

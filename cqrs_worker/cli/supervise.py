"""``cqrs-worker run --workers N``: the children's command lines, the supervisor and its
health server (the children's health and metrics summed up on ``HEALTH_PORT``).

Bad set-up is one line and exit 2, as for a single ``run``: what can be checked
once is checked here before any child starts (the settings, the health ports,
the import path and the Worker it builds, not started); what only a child can
see (an unreachable or refusing broker, a taken port) ends the command with
that child's one line (:attr:`~cqrs_worker.process.Supervisor.failure`), raised
here as a :class:`~cqrs_worker.errors.ConfigurationError` for ``cli.main`` to
print.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from typing import Any

from cqrs_worker.errors import ConfigurationError
from cqrs_worker.process import ChildHealth, ChildPlan, Supervisor, child_argv, child_health_port
from cqrs_worker.process.output import ERROR_PREFIX
from cqrs_worker.worker.health import HealthServer
from cqrs_worker.worker.settings import WorkerSettings

__all__ = ["supervise"]

_MAX_PORT = 65_535
_CONFIG_ERROR = 2


def supervise(
    args: argparse.Namespace, flags: dict[str, Any], settings: WorkerSettings, workers: int
) -> int:
    """Run ``workers`` children of ``cqrs-worker run`` with ``flags``; the command's exit code."""
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
    code = asyncio.run(_run(supervisor, plan, settings, workers))
    if code == _CONFIG_ERROR and supervisor.failure is not None:
        raise ConfigurationError(_message(supervisor.failure))
    return code


def _message(line: str) -> str:
    """A child's ``cqrs-worker run: <what to fix>`` without the part ``cli.main`` adds again."""
    if line.startswith(ERROR_PREFIX):
        head, colon, rest = line.partition(": ")
        if colon and " " not in head.removeprefix(f"{ERROR_PREFIX} "):
            return rest
    return line


async def _run(
    supervisor: Supervisor, plan: ChildPlan, settings: WorkerSettings, workers: int
) -> int:
    from cqrs_worker.cli.worker_target import load_worker

    # The import path and the Worker it builds, once, before any child: an error
    # here is the supervisor's own one line, not one per child.
    await load_worker(plan.target, factory=plan.factory, overrides=dict(plan.flags))
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

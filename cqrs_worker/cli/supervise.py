"""``cqrs-worker run --workers N``: the children's command lines and the supervisor's run."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from cqrs_worker.errors import ConfigurationError
from cqrs_worker.process import ChildPlan, Supervisor, child_argv
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
    if port and port + workers - 1 > _MAX_PORT:
        raise ConfigurationError(
            f"CQRS_WORKER_HEALTH_PORT (--health-port): {workers} workers need ports {port} to "
            f"{port + workers - 1}; choose {_MAX_PORT - workers + 1} or lower"
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
    return asyncio.run(supervisor.run())

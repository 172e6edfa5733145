"""A child's command line under ``run --workers N``: :func:`child_argv`.

Every child runs the same ``cqrs-worker run`` command with the same flags
(so flags still win over values in code and over ``CQRS_WORKER_*``), and
three that tell the children apart:

* ``--worker-id <id>-<n>`` when a worker id is set (else each child's
  default, ``<host>-<pid>``, already differs);
* ``--instance-id <id>-<n>`` with static membership: one member per child,
  each keeping its id across restarts;
* ``--health-port <port>+1+<n>``: each child serves /livez, /readyz and
  /metrics on its own port, which the supervisor polls and sums up on
  ``<port>`` (:mod:`cqrs_worker.process.health`); 0 keeps them all off.

``n`` counts from 0.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["ChildPlan", "child_argv", "child_health_port"]


@dataclass(frozen=True, kw_only=True)
class ChildPlan:
    """What every child shares: the target and the flags, and the settings that get a suffix."""

    target: str
    factory: bool
    flags: Mapping[str, Any]
    """Settings given as flags, by field name, as the command line gave them."""
    worker_id: str | None
    instance_id: str | None
    health_port: int
    """The supervisor's health port (0: none); child ``n`` serves on the one ``n + 1`` above."""


def child_argv(plan: ChildPlan, index: int) -> list[str]:
    """``python -m cqrs_worker.cli run ...`` for child ``index`` (0-based)."""
    flags = dict(plan.flags)
    if plan.worker_id is not None:
        flags["worker_id"] = f"{plan.worker_id}-{index}"
    if plan.instance_id is not None:
        flags["instance_id"] = f"{plan.instance_id}-{index}"
    if plan.health_port:
        flags["health_port"] = str(child_health_port(plan.health_port, index))
    argv = [sys.executable, "-m", "cqrs_worker.cli", "run", plan.target]
    if plan.factory:
        argv.append("--factory")
    return argv + _flags(flags)


def child_health_port(port: int, index: int) -> int:
    """Child ``index``'s health port when the supervisor serves on ``port``."""
    return port + 1 + index


def _flags(flags: Mapping[str, Any]) -> list[str]:
    argv: list[str] = []
    for name, value in flags.items():
        flag = name.replace("_", "-")
        if isinstance(value, bool):
            argv.append(f"--{flag}" if value else f"--no-{flag}")
        else:
            argv += [f"--{flag}", _text(value)]
    return argv


def _text(value: Any) -> str:
    if isinstance(value, Sequence) and not isinstance(value, str):
        return ",".join(str(part) for part in value)
    return str(value)

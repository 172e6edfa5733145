"""Counters the worker keeps; metrics and logs read them."""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["WorkerStats"]


@dataclass(slots=True)
class WorkerStats:
    """What happened to deliveries since start-up."""

    received: int = 0
    handled: int = 0
    retried: int = 0
    dead_lettered: int = 0
    unknown: int = 0
    duplicates: int = 0

    def snapshot(self) -> dict[str, int]:
        return asdict(self)

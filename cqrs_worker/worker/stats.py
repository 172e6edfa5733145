"""Counters the worker keeps; metrics and logs read them."""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["WorkerStats"]


@dataclass(slots=True)
class WorkerStats:
    """What happened to deliveries since start-up."""

    received: int = 0
    """Messages the sources received and handed to the pipeline."""
    handled: int = 0
    """Deliveries finished and acknowledged (dead-lettered and unknown ones included), not
    counting duplicates."""
    retried: int = 0
    """Failed attempts that were tried again."""
    dead_lettered: int = 0
    """Malformed or given-up deliveries sent to the dead-letter destination."""
    unknown: int = 0
    """Event names nobody here handles, acknowledged (``on_unknown_event="ack"``)."""
    duplicates: int = 0
    """Deliveries the inbox recognised as already handled."""

    def snapshot(self) -> dict[str, int]:
        return asdict(self)

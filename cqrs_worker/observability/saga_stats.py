"""What the sagas of a process count: :class:`SagaStats`, read at scrape time.

Sagas by status come from the saga table (the deadline check refreshes them
on its interval, so a scrape never waits for the database); step durations
are observed in this process as steps finish.
"""

from __future__ import annotations

from collections.abc import Iterator

from cqrs_worker.observability.durations import Durations

__all__ = ["SagaStats"]

_SEPARATOR = "\x00"


class SagaStats:
    """Plain counts; :mod:`cqrs_worker.observability.saga_collector` turns them into families."""

    def __init__(self) -> None:
        #: ``(definition, status) -> sagas`` as last read from the table.
        self.by_status: dict[tuple[str, str], int] = {}
        self.durations = Durations()

    def step_finished(self, definition: str, step: str, seconds: float) -> None:
        """A step (or ``<step>:compensation``) of ``definition`` finished after ``seconds``."""
        self.durations.observe(f"{definition}{_SEPARATOR}{step}", max(seconds, 0.0))

    def step_durations(self) -> Iterator[tuple[str, str, list[tuple[str, float]], float]]:
        """``(definition, step, cumulative buckets, sum)`` per step seen."""
        for label, buckets, total in self.durations.snapshot():
            definition, step = label.split(_SEPARATOR, 1)
            yield definition, step, buckets, total

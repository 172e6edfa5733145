"""Handler durations counted into histogram buckets: :class:`Durations`.

Observing costs a ``bisect`` and two list increments; the Prometheus
histogram (cumulative buckets, ``_sum``, ``_count``) is built from these
counts only when someone scrapes.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence

__all__ = ["DEFAULT_BUCKETS", "Durations"]

#: Upper bounds in seconds: handlers range from sub-millisecond to minutes.
DEFAULT_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
)


class Durations:
    """Per-label bucket counts (not cumulative) and sums of observed durations."""

    __slots__ = ("bounds", "counts")

    def __init__(self, bounds: Sequence[float] = DEFAULT_BUCKETS) -> None:
        if list(bounds) != sorted(set(bounds)) or not bounds:
            raise ValueError("histogram bounds must be increasing and not empty")
        self.bounds = tuple(bounds)
        #: Per label: one count per bound, the +Inf count, then the sum (one list, one
        #: lookup). The attempt wrapper updates it inline, as :meth:`observe` does.
        self.counts: dict[str, list[float]] = {}

    def add_label(self, label: str) -> list[float]:
        """The (new) counts of ``label``."""
        counts = self.counts.get(label)
        if counts is None:
            counts = self.counts[label] = [0.0] * (len(self.bounds) + 2)
        return counts

    def observe(self, label: str, seconds: float) -> None:
        counts = self.counts.get(label) or self.add_label(label)
        counts[bisect_left(self.bounds, seconds)] += 1
        counts[-1] += seconds

    def snapshot(self) -> Iterator[tuple[str, list[tuple[str, float]], float]]:
        """``(label, cumulative buckets as (upper bound, count), sum)`` per label."""
        for label, counts in list(self.counts.items()):
            cumulative: list[tuple[str, float]] = []
            total = 0.0
            for bound, count in zip((*map(_bound, self.bounds), "+Inf"), counts[:-1], strict=True):
                total += count
                cumulative.append((bound, total))
            yield label, cumulative, counts[-1]


def _bound(value: float) -> str:
    return repr(float(value))

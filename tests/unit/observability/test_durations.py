"""Handler durations kept as bucket counts and turned into cumulative buckets at scrape."""

from __future__ import annotations

import pytest

from cqrs_worker.observability import Durations


def test_buckets_are_cumulative_with_the_sum() -> None:
    durations = Durations((0.1, 1.0))
    for seconds in (0.05, 0.1, 0.5, 2.0):
        durations.observe("A", seconds)

    [(label, buckets, total)] = list(durations.snapshot())

    assert label == "A"
    assert buckets == [("0.1", 2), ("1.0", 3), ("+Inf", 4)]  # le is inclusive
    assert total == pytest.approx(2.65)


def test_bounds_must_increase() -> None:
    with pytest.raises(ValueError, match="increasing"):
        Durations((1.0, 0.5))

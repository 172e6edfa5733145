"""``Backoff``: exponential restart delays, capped, reset after a stable run."""

from __future__ import annotations

import pytest

from cqrs_worker.process import Backoff


def test_delays_double_up_to_the_cap() -> None:
    backoff = Backoff(initial=0.5, maximum=4.0, stable_after=30.0)
    assert [backoff.crashed(1.0) for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert backoff.failures == 6


def test_a_stable_run_resets_the_delay() -> None:
    backoff = Backoff(initial=0.5, maximum=30.0, stable_after=10.0)
    backoff.crashed(1.0)
    backoff.crashed(1.0)
    assert backoff.crashed(10.0) == 0.5
    assert backoff.failures == 1


@pytest.mark.parametrize(
    "options",
    [{"initial": 0}, {"initial": 2, "maximum": 1}, {"stable_after": 0}],
)
def test_wrong_values_are_refused(options: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="initial"):
        Backoff(**options)

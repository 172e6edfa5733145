"""Pacing, progress and the options of a replay."""

from __future__ import annotations

import pytest

from cqrs_worker.dlq.replay import Pace, Progress, ReplayOptions, ReplayReport
from cqrs_worker.errors import ConfigurationError


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_pace_spaces_sends_by_the_rate() -> None:
    clock = Clock()
    pace = Pace(4.0, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        await pace.wait()
    assert clock.slept == [0.25, 0.25, 0.25, 0.25]
    assert clock.now == pytest.approx(101.0)


async def test_pace_gives_no_burst_after_a_pause() -> None:
    clock = Clock()
    pace = Pace(2.0, clock=clock, sleep=clock.sleep)
    await pace.wait()
    clock.now += 10  # a slow broker confirm, say
    await pace.wait()
    await pace.wait()
    assert clock.slept == [0.5]


async def test_no_rate_never_sleeps() -> None:
    clock = Clock()
    pace = Pace(None, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        await pace.wait()
    assert clock.slept == []


def test_progress_writes_at_most_every_interval() -> None:
    clock = Clock()
    lines: list[str] = []
    progress = Progress(lines.append, every=2.0, clock=clock)
    report = ReplayReport(source="t.dlq", dry_run=False, read=10, matched=10, replayed=9)
    progress.update(report, 100)
    clock.now += 2.5
    progress.update(report, 100)
    progress.update(report, 100)
    assert lines == ["t.dlq: read 10 of 100, replayed 9"]


def test_report_text() -> None:
    report = ReplayReport(source="t.dlq", dry_run=True, read=5, matched=3)
    assert report.render() == "t.dlq: read 5, matched 3, would replay 3"
    report = ReplayReport(source="t.dlq", dry_run=False, read=5, matched=3, replayed=3)
    report.skip("original topic 'x' missing")
    assert report.render().endswith("replayed 3 (original topic 'x' missing: 1)")


@pytest.mark.parametrize(("count", "rate"), [(0, None), (None, 0.0), (None, -1.0)])
def test_options_refuse_nonsense(count: int | None, rate: float | None) -> None:
    with pytest.raises(ConfigurationError):
        ReplayOptions(count=count, rate=rate)

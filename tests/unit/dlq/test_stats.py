"""The counts of ``dlq stats``."""

from __future__ import annotations

from cqrs_worker.dlq.letter import DeadLetter
from cqrs_worker.dlq.stats import LetterStats


def _letter(reason: str, name: str, exc: str, at: str) -> DeadLetter:
    return DeadLetter(
        body=b"{}",
        headers={
            "event_name": name,
            "x-dlq-reason": reason,
            "x-dlq-exception-type": exc,
            "x-dlq-last-failure-at": at,
        },
        key=None,
        where="x",
    )


def test_stats_count_by_reason_event_and_exception_with_oldest_and_newest() -> None:
    stats = LetterStats(source="orders.dlq")
    stats.add(_letter("handler-failed", "A", "m.Boom", "2026-05-01T10:00:00+00:00"))
    stats.add(_letter("handler-failed", "B", "m.Boom", "2026-05-01T09:00:00+00:00"))
    stats.add(
        _letter("not-json", "-", "cqrs_worker.errors.NotJsonError", "2026-05-01T11:00:00+00:00")
    )
    data = stats.to_json()
    assert data["total"] == 3
    assert data["by_reason"] == {"handler-failed": 2, "not-json": 1}
    assert data["by_event_name"] == {"A": 1, "B": 1, "-": 1}
    assert data["by_exception_type"] == {"m.Boom": 2, "cqrs_worker.errors.NotJsonError": 1}
    assert data["oldest"] == "2026-05-01T09:00:00+00:00"
    assert data["newest"] == "2026-05-01T11:00:00+00:00"
    text = stats.render()
    assert text.splitlines()[0] == "orders.dlq: 3 dead letter(s)"
    assert "by reason:" in text
    assert "2  handler-failed" in text


def test_stats_say_when_they_stopped_at_the_limit() -> None:
    stats = LetterStats(source="q.dlq", complete=False, in_source=50)
    assert "counted of 50: stopped at --limit" in stats.render()

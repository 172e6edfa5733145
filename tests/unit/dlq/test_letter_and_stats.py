"""A dead letter's fields, and the counts of ``dlq stats``."""

from __future__ import annotations

import datetime

import orjson

from cqrs_worker.dlq.letter import DeadLetter, text_headers
from cqrs_worker.dlq.stats import LetterStats


def test_name_and_id_come_from_the_body_when_no_header_names_them() -> None:
    # python-cqrs producers send no headers, and may write camelCase keys.
    letter = DeadLetter(
        body=orjson.dumps({"eventId": "e-1", "eventName": "Legacy"}),
        headers={},
        key=None,
        where="t.dlq[0]@0",
    )
    assert (letter.event_id, letter.event_name, letter.reason) == ("e-1", "Legacy", "unknown")


def test_a_body_that_is_not_json_shows_as_base64() -> None:
    letter = DeadLetter(body=b"\xff\x00", headers={}, key=None, where="q.dlq#1")
    data = letter.to_json()
    assert data["body_base64"] == "/wA="
    assert "body" not in data
    assert data["event_name"] == "-"


def test_the_broker_timestamp_stands_in_for_a_missing_failure_time() -> None:
    stamp = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    letter = DeadLetter(body=b"{}", headers={}, key=None, where="x", timestamp=stamp)
    assert letter.dead_lettered_at == stamp
    bad = DeadLetter(
        body=b"{}",
        headers={"x-dlq-last-failure-at": "garbage"},
        key=None,
        where="x",
        timestamp=stamp,
    )
    assert bad.dead_lettered_at == stamp


def test_text_headers_skips_values_that_are_not_text() -> None:
    assert text_headers([("a", b"1"), ("b", b"\xff"), ("c", "3")]) == {"a": "1", "c": "3"}
    assert text_headers({"a": "1", "n": 5}) == {"a": "1"}


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

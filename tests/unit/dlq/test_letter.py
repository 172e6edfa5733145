"""A dead letter's fields, read from its headers or its body."""

from __future__ import annotations

import datetime

import orjson

from cqrs_worker.dlq.letter import DeadLetter, text_headers


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

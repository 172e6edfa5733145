"""The headers of a replayed copy, and how the inbox recognises one."""

from __future__ import annotations

import datetime

from cqrs_worker.dlq.marker import REPLAY_COUNT, REPLAYED_AT, is_replay, replay_headers
from cqrs_worker.worker.delivery import Delivery
from cqrs_worker.worker.memory import InMemoryMessage

NOW = datetime.datetime(2026, 5, 1, 12, 0, tzinfo=datetime.UTC)


def test_the_copy_drops_the_failure_headers_and_is_marked() -> None:
    dead = {
        "event_id": "e-1",
        "traceparent": b"00-abc",
        "x-dlq-reason": "handler-failed",
        "x-dlq-exception-type": "builtins.RuntimeError",
        "x-dlq-original-topic": "orders",
    }
    copy = replay_headers(dead, now=NOW)
    assert copy == {
        "event_id": "e-1",
        "traceparent": b"00-abc",
        REPLAYED_AT: "2026-05-01T12:00:00+00:00",
        REPLAY_COUNT: "1",
    }


def test_the_replay_count_grows_with_each_replay() -> None:
    assert replay_headers({REPLAY_COUNT: b"2"}, now=NOW)[REPLAY_COUNT] == "3"
    assert replay_headers({REPLAY_COUNT: "junk"}, now=NOW)[REPLAY_COUNT] == "1"


def _delivery(headers: dict[str, str]) -> Delivery:
    raw = InMemoryMessage(topic="orders", body=b"{}", headers=headers)
    return Delivery(b"{}", None, None, raw)


def test_is_replay_reads_the_marker_header() -> None:
    assert is_replay(_delivery({REPLAYED_AT: "2026-05-01T12:00:00+00:00"}))
    assert not is_replay(_delivery({"x-dlq-reason": "handler-failed"}))

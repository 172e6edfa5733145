"""Reading and replaying Kafka dead letters written as the worker writes them (no worker here)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from cqrs_worker.dlq.filters import LetterFilter
from cqrs_worker.dlq.kafka import KafkaDeadLetters
from cqrs_worker.dlq.replay import ReplayOptions
from tests.integration.dlq.support import dead_letter_headers, envelope, produce, read_topic
from tests.support.kafka import create_topic

pytestmark = pytest.mark.kafka


async def _dead_letters(bootstrap: str, topic: str, kinds: list[dict[str, Any]]) -> list[str]:
    """One dead letter per entry of ``kinds`` (header overrides) on ``<topic>.dlq``; their ids."""
    ids, records = [], []
    for i, kind in enumerate(kinds):
        event_id, body = envelope(user=f"u-{i}")
        ids.append(event_id)
        headers = dead_letter_headers(topic=topic, event_id=event_id, **kind)
        records.append((body, f"k-{i}".encode(), headers))
    await produce(bootstrap, f"{topic}.dlq", records)
    return ids


async def _setup(bootstrap: str, topic: str, kinds: list[dict[str, Any]]) -> list[str]:
    await create_topic(bootstrap, topic, 2)
    await create_topic(bootstrap, f"{topic}.dlq", 2)
    return await _dead_letters(bootstrap, topic, kinds)


async def test_letters_reads_every_partition_to_its_end(
    kafka_bootstrap: str, topic_name: str
) -> None:
    ids = await _setup(kafka_bootstrap, topic_name, [{}] * 5)
    async with KafkaDeadLetters(bootstrap=kafka_bootstrap, topic=topic_name, timeout=10) as dlq:
        seen = [letter async for _, letter in dlq.letters()]
    assert sorted(letter.event_id for letter in seen) == sorted(ids)
    assert {letter.reason for letter in seen} == {"handler-failed"}


async def test_replay_keeps_event_id_and_key_and_marks_the_copy(
    kafka_bootstrap: str, topic_name: str
) -> None:
    ids = await _setup(kafka_bootstrap, topic_name, [{}] * 3)
    async with KafkaDeadLetters(bootstrap=kafka_bootstrap, topic=topic_name, timeout=10) as dlq:
        report = await dlq.replay(ReplayOptions())
    assert (report.read, report.replayed) == (3, 3)
    copies = await read_topic(kafka_bootstrap, topic_name, expected=3)
    assert len(copies) == 3
    for record in copies:
        headers = dict(record.headers)
        assert headers["event_id"].decode() in ids
        assert headers["x-dlq-replay-count"] == b"1"
        assert b"x-dlq-replayed-at" in [name.encode() for name in headers]
        assert "x-dlq-reason" not in headers, "the failure headers describe the dead letter"
        assert record.partition == 0, "back to the partition it was dead-lettered from"
    assert sorted(r.key for r in copies) == [b"k-0", b"k-1", b"k-2"]


async def test_second_replay_sends_nothing_unless_from_beginning(
    kafka_bootstrap: str, topic_name: str
) -> None:
    await _setup(kafka_bootstrap, topic_name, [{}] * 3)
    async with KafkaDeadLetters(bootstrap=kafka_bootstrap, topic=topic_name, timeout=10) as dlq:
        first = await dlq.replay(ReplayOptions())
        second = await dlq.replay(ReplayOptions())
    async with KafkaDeadLetters(bootstrap=kafka_bootstrap, topic=topic_name, timeout=10) as dlq:
        third = await dlq.replay(ReplayOptions())
        again = await dlq.replay(ReplayOptions(), from_beginning=True)
    assert (first.replayed, second.replayed, third.replayed, again.replayed) == (3, 0, 0, 3)
    assert len(await read_topic(kafka_bootstrap, topic_name, expected=6)) == 6


async def test_filters_choose_what_is_replayed_and_the_mark_stops_at_the_first_skipped(
    kafka_bootstrap: str, topic_name: str
) -> None:
    kinds: list[dict[str, Any]] = [
        {"reason": "handler-failed", "exception": "app.Broken"},
        {"reason": "invalid-payload", "exception": "cqrs_worker.errors.PayloadValidationError"},
        {"reason": "handler-failed", "exception": "app.Broken"},
        {"reason": "handler-failed", "exception": "app.Other"},
    ]
    ids = await _setup(kafka_bootstrap, topic_name, kinds)
    broken = ReplayOptions(filter=LetterFilter(exception_types=frozenset({"Broken"})))
    async with KafkaDeadLetters(bootstrap=kafka_bootstrap, topic=topic_name, timeout=10) as dlq:
        first = await dlq.replay(broken)
        rest = await dlq.replay(ReplayOptions())
    assert first.replayed == 2
    # The mark stopped at the first dead letter skipped (the second): the rest
    # run sends it, and everything after it (the third again, already replayed).
    assert rest.replayed == 3
    copies = await read_topic(kafka_bootstrap, topic_name, expected=5)
    sent = [dict(r.headers)["event_id"].decode() for r in copies]
    assert sorted(sent) == sorted([ids[0], ids[2], ids[1], ids[2], ids[3]])


async def test_dry_run_sends_and_marks_nothing(kafka_bootstrap: str, topic_name: str) -> None:
    await _setup(kafka_bootstrap, topic_name, [{}] * 4)
    async with KafkaDeadLetters(bootstrap=kafka_bootstrap, topic=topic_name, timeout=10) as dlq:
        dry = await dlq.replay(ReplayOptions(dry_run=True, count=3))
        real = await dlq.replay(ReplayOptions())
    assert (dry.matched, dry.replayed) == (3, 0)
    assert real.replayed == 4, "the dry run moved no mark"
    assert len(await read_topic(kafka_bootstrap, topic_name, expected=4)) == 4


async def test_count_and_rate_bound_a_replay_and_long_runs_show_progress(
    kafka_bootstrap: str, topic_name: str
) -> None:
    await _setup(kafka_bootstrap, topic_name, [{}] * 12)
    progress: list[str] = []
    async with KafkaDeadLetters(bootstrap=kafka_bootstrap, topic=topic_name, timeout=10) as dlq:
        started = time.monotonic()
        report = await dlq.replay(ReplayOptions(count=10, rate=4.0), progress=progress.append)
        took = time.monotonic() - started
        rest = await dlq.replay(ReplayOptions())
    assert report.replayed == 10
    # 10 messages at 4/s: the first at once, then 9 intervals of 0.25 s.
    assert took >= 2.2, f"10 messages at 4/s took {took:.2f}s"
    assert progress, "a run past 2 s prints progress"
    assert progress[0].startswith(f"{topic_name}.dlq: read ")
    assert rest.replayed == 2


async def test_an_empty_dead_letter_topic_reads_as_empty_at_once(
    kafka_bootstrap: str, topic_name: str
) -> None:
    await _setup(kafka_bootstrap, topic_name, [])
    started = time.monotonic()
    async with KafkaDeadLetters(bootstrap=kafka_bootstrap, topic=topic_name, timeout=10) as dlq:
        seen = [letter async for _, letter in dlq.letters()]
        report = await dlq.replay(ReplayOptions())
    assert seen == []
    assert report.read == 0
    assert time.monotonic() - started < 8, "ended at the (empty) end, not by the timeout"

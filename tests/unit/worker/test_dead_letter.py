"""Dead-letter headers, and the in-memory sink that keeps the original message."""

from __future__ import annotations

import datetime
import re
import traceback

import pytest

from cqrs_worker.brokers import InMemoryBroker
from cqrs_worker.errors import (
    EventHandlingError,
    HandlerFailure,
    NotJsonError,
    RetriesExhaustedError,
)
from cqrs_worker.worker.dead_letter import (
    MAX_STACKTRACE_BYTES,
    DeadLetterer,
    Failure,
    bounded_stacktrace,
    dead_letter_headers,
)
from cqrs_worker.worker.memory import InMemoryDeadLetterSink
from cqrs_worker.worker.stats import WorkerStats
from tests.unit.worker.sample import raw_delivery

HEADERS = {
    "x-dlq-reason",
    "x-dlq-exception-type",
    "x-dlq-exception-message",
    "x-dlq-attempts",
    "x-dlq-first-failure-at",
    "x-dlq-last-failure-at",
    "x-dlq-worker-id",
    "x-dlq-exception-stacktrace",
}


def test_headers_name_the_failure_the_attempts_and_the_worker() -> None:
    delivery = raw_delivery(b"{}")
    delivery.attempts = 4
    delivery.first_failure_at = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    delivery.last_failure_at = datetime.datetime(2026, 1, 2, tzinfo=datetime.UTC)

    headers = dead_letter_headers(delivery, Failure("handler-failed", KeyError("k")), "w-1")

    assert set(headers) == HEADERS
    assert headers["x-dlq-exception-type"] == "builtins.KeyError"
    assert headers["x-dlq-attempts"] == "4"
    assert headers["x-dlq-first-failure-at"] == "2026-01-01T00:00:00+00:00"
    assert headers["x-dlq-last-failure-at"] == "2026-01-02T00:00:00+00:00"
    assert headers["x-dlq-worker-id"] == "w-1"


def test_a_message_that_never_ran_gets_the_time_it_was_dead_lettered() -> None:
    delivery = raw_delivery(b"x")

    headers = dead_letter_headers(delivery, Failure("not-json", NotJsonError("bad")), "w")

    assert headers["x-dlq-first-failure-at"] == headers["x-dlq-last-failure-at"]
    assert headers["x-dlq-attempts"] == "0"


def test_long_exception_messages_are_cut() -> None:
    failure = Failure("handler-failed", RuntimeError("x" * 10_000))

    headers = dead_letter_headers(raw_delivery(b"x"), failure, "w")

    assert len(headers["x-dlq-exception-message"]) == 2000


async def test_the_handlers_own_exception_is_reported_not_the_wrapper() -> None:
    broker = InMemoryBroker()
    await broker.start()
    dead_letter = DeadLetterer(InMemoryDeadLetterSink(broker), worker_id="w", stats=WorkerStats())
    wrapped = EventHandlingError(object(), [HandlerFailure(object, ConnectionResetError("gone"))])

    await dead_letter(raw_delivery(b"{}"), RetriesExhaustedError(3, wrapped))

    [dead] = broker.messages("orders.dlq")
    assert dead.headers["x-dlq-exception-type"] == "builtins.ConnectionResetError"
    assert dead.headers["x-dlq-exception-message"] == "gone"


async def test_the_in_memory_sink_keeps_body_key_and_headers_and_adds_the_origin() -> None:
    broker = InMemoryBroker()
    await broker.start()
    sink = InMemoryDeadLetterSink(broker, suffix=".dead")
    delivery = raw_delivery(b"body", topic="t", headers={"event_name": "E", "trace": "1"}, offset=9)

    await sink.send(delivery, {"x-dlq-reason": "r"})

    [dead] = broker.messages("t.dead")
    assert dead.body == b"body"
    assert dict(dead.headers) == {
        "event_name": "E",
        "trace": "1",
        "x-dlq-reason": "r",
        "x-dlq-original-topic": "t",
        "x-dlq-original-offset": "9",
    }


def _raised(error: BaseException, causes: int = 0) -> BaseException:
    """``error`` raised with its traceback, after a chain of ``causes`` other exceptions."""
    try:
        try:
            if causes:
                raise _raised(LookupError(f"cause {causes}"), causes - 1)
        except LookupError as cause:
            raise error from cause
        raise error
    except BaseException as exc:
        return exc


def test_a_short_stacktrace_is_kept_whole() -> None:
    text = bounded_stacktrace(_raised(KeyError("k"), causes=2))

    assert text.startswith("Traceback (most recent call last):")
    assert "LookupError: cause 2" in text
    assert "LookupError: cause 1" in text
    assert text.endswith("KeyError: 'k'")


@pytest.mark.parametrize("causes", [30, 300])
def test_a_long_stacktrace_loses_its_middle_within_the_bound(causes: int) -> None:
    error = _raised(RuntimeError("é" * 50), causes)
    assert len("".join(traceback.format_exception(error)).encode()) > MAX_STACKTRACE_BYTES

    text = bounded_stacktrace(error)

    assert len(text.encode()) <= MAX_STACKTRACE_BYTES
    assert len(text.encode()) > MAX_STACKTRACE_BYTES - 200, "the room is used"
    assert text.startswith("Traceback (most recent call last):")
    assert text.endswith("RuntimeError: " + "é" * 50), "the exception line survives"
    assert re.search(r"\n\[\.\.\. \d+ bytes of traceback cut \.\.\.\]\n", text)


def test_a_huge_exception_message_is_cut_too() -> None:
    text = bounded_stacktrace(_raised(RuntimeError("x" * 100_000)), limit=1_000)

    assert len(text.encode()) <= 1_000
    assert "bytes of traceback cut" in text


async def test_the_dead_letter_header_is_bounded() -> None:
    broker = InMemoryBroker()
    await broker.start()
    dead_letter = DeadLetterer(InMemoryDeadLetterSink(broker), worker_id="w", stats=WorkerStats())

    await dead_letter(raw_delivery(b"{}"), RetriesExhaustedError(1, _raised(ValueError(), 100)))

    [dead] = broker.messages("orders.dlq")
    stacktrace = dead.headers["x-dlq-exception-stacktrace"]
    assert len(stacktrace.encode()) <= MAX_STACKTRACE_BYTES
    assert stacktrace.endswith("ValueError")

"""Dead-letter headers, and the in-memory sink that keeps the original message."""

from __future__ import annotations

import datetime

from cqrs_worker.brokers import InMemoryBroker
from cqrs_worker.errors import (
    EventHandlingError,
    HandlerFailure,
    NotJsonError,
    RetriesExhaustedError,
)
from cqrs_worker.worker.dead_letter import DeadLetterer, Failure, dead_letter_headers
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

"""What the pipeline logs: one WARNING per retried attempt, one traceback at the outcome.

Every line carries the delivery's fields (the log context), and the event is
named from the decoded body when no header names it (python-cqrs sends none).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator

import pytest

from cqrs_worker.envelope import encode_event
from cqrs_worker.observability.logcontext import LogContextFilter
from cqrs_worker.worker.delivery import Delivery
from cqrs_worker.worker.retry import RetryPolicy
from tests.unit.worker.sample import OrderPlaced, placed, raw_delivery
from tests.unit.worker.test_pipeline import Rig


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    context = LogContextFilter()
    caplog.handler.addFilter(context)
    caplog.set_level(logging.DEBUG)
    try:
        yield caplog
    finally:
        caplog.handler.removeFilter(context)


def headerless(event: OrderPlaced, *, offset: int = 0) -> Delivery:
    """A delivery as python-cqrs producers send it: no ``event_name`` header."""
    return raw_delivery(encode_event(event), headers={}, offset=offset)


def ours(logs: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in logs.records if r.name.startswith("cqrs_worker.")]


def with_traceback(records: list[logging.LogRecord]) -> list[logging.LogRecord]:
    return [r for r in records if r.exc_info]


async def test_exhausted_retries_warn_per_attempt_and_log_the_traceback_once(
    logs: pytest.LogCaptureFixture,
) -> None:
    rig = await Rig().start()  # three attempts
    event = placed(1, fail=-1)

    await rig.pipeline(headerless(event, offset=41))

    records = ours(logs)
    warnings = [r for r in records if r.levelno == logging.WARNING]
    assert [r.getMessage().split(" (")[0] for r in warnings] == [
        "attempt 1 of OrderPlaced failed",
        "attempt 2 of OrderPlaced failed",
    ]
    assert "(RecordOrder: RuntimeError: order 1 failed on attempt 1)" in warnings[0].getMessage()
    [error] = with_traceback(records)
    assert error.levelno == logging.ERROR
    assert error.getMessage().startswith("dead-lettering OrderPlaced after 3 attempt(s)")
    assert error.exc_info is not None
    assert str(error.exc_info[1]) == "order 1 failed on attempt 3"
    assert [r.levelno for r in records] == [logging.WARNING, logging.WARNING, logging.ERROR]
    for record, attempt in zip(records, (1, 2, 3), strict=True):
        assert record.event_id == str(event.event_id)  # type: ignore[attr-defined]  # set by the filter
        assert record.event_name == "OrderPlaced"  # type: ignore[attr-defined]
        assert record.topic == "orders"  # type: ignore[attr-defined]
        assert record.offset == 41  # type: ignore[attr-defined]
        assert record.attempt == attempt  # type: ignore[attr-defined]
        assert record.worker_id == "worker-7"  # type: ignore[attr-defined]


async def test_a_permanent_failure_logs_only_the_outcome_with_its_traceback(
    logs: pytest.LogCaptureFixture,
) -> None:
    rig = await Rig(retry=RetryPolicy(max_attempts=3, permanent=(RuntimeError,))).start()

    await rig.pipeline(headerless(placed(1, fail=-1)))

    [error] = ours(logs)
    assert error.levelno == logging.ERROR
    assert error.exc_info is not None
    assert "after 1 attempt(s)" in error.getMessage()


async def test_a_malformed_message_logs_one_warning_with_the_reason_and_no_traceback(
    logs: pytest.LogCaptureFixture,
) -> None:
    rig = await Rig().start()

    await rig.pipeline(raw_delivery(b"{not json", headers={}, offset=3))

    [warning] = ours(logs)
    assert warning.levelno == logging.WARNING
    assert warning.exc_info is None
    assert "not-json" in warning.getMessage()
    assert warning.offset == 3  # type: ignore[attr-defined]  # set by the filter
    assert warning.event_id is None  # type: ignore[attr-defined]


async def test_a_retry_that_succeeds_logs_warnings_and_no_traceback(
    logs: pytest.LogCaptureFixture,
) -> None:
    rig = await Rig().start()

    await rig.pipeline(headerless(placed(1, fail=2)))

    records = ours(logs)
    assert [r.levelno for r in records] == [logging.WARNING, logging.WARNING]
    assert with_traceback(records) == []


async def test_a_handlers_own_lines_name_the_delivery(logs: pytest.LogCaptureFixture) -> None:
    rig = await Rig().start()
    rig.journal.on_handle = lambda n: logging.getLogger("shop").info("order %d recorded", n)
    event = placed(5, key="k")

    await rig.pipeline(headerless(event, offset=9))

    [line] = [r for r in logs.records if r.name == "shop"]
    assert line.event_id == str(event.event_id)  # type: ignore[attr-defined]  # set by the filter
    assert line.event_name == "OrderPlaced"  # type: ignore[attr-defined]
    assert line.offset == 9  # type: ignore[attr-defined]
    assert line.attempt == 1  # type: ignore[attr-defined]
    assert line.worker_id == "worker-7"  # type: ignore[attr-defined]


async def test_the_dead_letter_carries_the_handlers_stacktrace() -> None:
    rig = await Rig().start()

    await rig.pipeline(headerless(placed(1, fail=-1)))

    [dead] = rig.broker.messages("orders.dlq")
    stacktrace = dead.headers["x-dlq-exception-stacktrace"]
    assert stacktrace.startswith("Traceback (most recent call last):")
    assert "in handle" in stacktrace  # the handler's frame
    assert stacktrace.endswith("RuntimeError: order 1 failed on attempt 3")


async def test_the_logged_traceback_is_the_last_attempts_alone(
    logs: pytest.LogCaptureFixture,
) -> None:
    rig = await Rig().start()

    await rig.pipeline(headerless(placed(1, fail=-1)))

    [error] = with_traceback(ours(logs))
    assert error.exc_info is not None
    text = "".join(traceback.format_exception(error.exc_info[1]))
    assert "During handling" not in text
    assert "failed on attempt 1" not in text
    assert text.count("Traceback (most recent call last)") == 1

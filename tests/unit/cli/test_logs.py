"""The CLI's logging set-up: text or one JSON object per line."""

from __future__ import annotations

import contextlib
import decimal
import io
import json
import logging
import sys
from collections.abc import Callable
from typing import Literal

from cqrs_worker.cli.logs import JsonFormatter, configure_logging
from cqrs_worker.observability.logcontext import bind, unbind
from tests.unit.worker.sample import raw_delivery


def test_json_lines_carry_level_logger_message_and_traceback() -> None:
    try:
        raise ValueError("bad")
    except ValueError:
        record = logging.LogRecord(
            "cqrs_worker.x", logging.ERROR, __file__, 1, "failed %s", ("once",), sys.exc_info()
        )

    entry = json.loads(JsonFormatter().format(record))

    assert entry["level"] == "ERROR"
    assert entry["logger"] == "cqrs_worker.x"
    assert entry["message"] == "failed once"
    assert entry["time"].endswith("+00:00")
    assert "ValueError: bad" in entry["exception"]


def emitted(fmt: Literal["text", "json"], log: Callable[[], None]) -> list[str]:
    """The lines the CLI's logging set-up writes for what ``log`` logs."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    stream = io.StringIO()
    try:
        with contextlib.redirect_stderr(stream):
            configure_logging("DEBUG", fmt)
        log()
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    return stream.getvalue().splitlines()


def in_delivery(log: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        delivery = raw_delivery(b"{}", topic="orders", offset=17)
        delivery.attempts = 3
        token = bind(delivery, "worker-7")
        try:
            log()
        finally:
            unbind(token)

    return run


def test_json_lines_carry_fields_passed_with_extra() -> None:
    record = logging.LogRecord("app", logging.INFO, __file__, 1, "paid", None, None)
    record.__dict__.update({"order_id": 42, "amount": decimal.Decimal("9.50")})

    entry = json.loads(JsonFormatter().format(record))

    assert entry["order_id"] == 42
    assert entry["amount"] == "9.50"  # not JSON: shown as text rather than failing the line
    assert entry["message"] == "paid"


def test_a_handlers_own_json_line_names_the_delivery() -> None:
    [line] = emitted("json", in_delivery(lambda: logging.getLogger("shop").info("charged")))

    entry = json.loads(line)

    assert entry["message"] == "charged"
    assert entry["logger"] == "shop"
    assert entry["topic"] == "orders"
    assert entry["offset"] == 17
    assert entry["attempt"] == 3
    assert entry["worker_id"] == "worker-7"
    assert "event_id" in entry


def test_text_lines_show_the_fields_as_key_value_pairs_after_the_message() -> None:
    def log() -> None:
        logging.getLogger("shop").warning("charge failed", extra={"reason": "card declined"})

    [line] = emitted("text", in_delivery(log))

    assert " WARNING shop: charge failed [" in line
    suffix = line.split("charge failed ", 1)[1]
    assert suffix == (
        '[topic=orders offset=17 attempt=3 worker_id=worker-7 reason="card declined"]'
    ), "context fields first, None ones left out, values with spaces quoted"


def test_text_lines_outside_a_delivery_are_unchanged() -> None:
    [line] = emitted("text", lambda: logging.getLogger("shop").info("started"))

    assert line.endswith(" INFO shop: started")


def test_the_traceback_follows_the_fields_in_text() -> None:
    def log() -> None:
        try:
            raise ValueError("bad")
        except ValueError:
            logging.getLogger("shop").exception("failed")

    lines = emitted("text", in_delivery(log))

    assert lines[0].endswith("failed [topic=orders offset=17 attempt=3 worker_id=worker-7]")
    assert lines[-1] == "ValueError: bad"

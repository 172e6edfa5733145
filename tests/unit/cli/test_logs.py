"""The CLI's logging set-up: text or one JSON object per line."""

from __future__ import annotations

import json
import logging
import sys

from cqrs_worker.cli.logs import JsonFormatter


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

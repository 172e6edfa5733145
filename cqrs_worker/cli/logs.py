"""Logging set-up for the command line (the only place cqrs-worker configures logging).

Both formats carry, besides the message, every field a record has beyond the
standard ones: what a call passed with ``extra=`` and the message fields the
:class:`~cqrs_worker.observability.logcontext.LogContextFilter` adds while a
delivery is handled (event id and name, topic or queue, partition, offset,
key, attempt, worker id). JSON puts them in the object; text appends them as
``key=value`` pairs, the context fields first.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
from typing import Any, Literal

from cqrs_worker.observability.logcontext import FIELDS, LogContextFilter

__all__ = ["JsonFormatter", "TextFormatter", "configure_logging", "record_fields"]

_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# What every LogRecord has (and what formatters add): everything else is a field.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}
_ORDER = {name: index for index, name in enumerate(FIELDS)}


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The record's non-standard attributes, context fields first (in their set order)."""
    fields = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
    return dict(sorted(fields.items(), key=lambda item: _ORDER.get(item[0], len(_ORDER))))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the fields, the traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in record_fields(record).items():
            entry.setdefault(name, value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The usual text line, then the fields as `` key=value`` (quoted where needed)."""

    def __init__(self) -> None:
        super().__init__(_TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        pairs = [
            f"{name}={_text_value(value)}"
            for name, value in record_fields(record).items()
            if value is not None
        ]
        return f"{line} [{' '.join(pairs)}]" if pairs else line


def _text_value(value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    if not text or any(c.isspace() or c in '"=[]' for c in text):
        return json.dumps(text, ensure_ascii=False)
    return text


def configure_logging(level: str, fmt: Literal["text", "json"] = "text") -> None:
    """Send every log record at ``level`` or above to stderr, as text or JSON lines.

    The handler carries the :class:`LogContextFilter`, so every line logged
    while a delivery is handled (the handlers' own too) names the message.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(LogContextFilter())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)

"""One dead letter as the commands see it, whichever broker held it: :class:`DeadLetter`."""

from __future__ import annotations

import base64
import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from cqrs_worker.envelope import EVENT_ID_HEADER, EVENT_NAME_HEADER
from cqrs_worker.worker.dead_letter import PREFIX

__all__ = ["DeadLetter", "text_headers"]

REASON = f"{PREFIX}reason"
EXCEPTION_TYPE = f"{PREFIX}exception-type"
LAST_FAILURE_AT = f"{PREFIX}last-failure-at"


def text_headers(headers: Any) -> dict[str, str]:
    """Text-valued headers of a mapping or of Kafka's ``(name, bytes)`` pairs."""
    pairs = headers.items() if isinstance(headers, Mapping) else (headers or ())
    found: dict[str, str] = {}
    for name, value in pairs:
        if isinstance(value, bytes | bytearray):
            try:
                value = bytes(value).decode()
            except UnicodeDecodeError:
                continue
        if isinstance(value, str) and isinstance(name, str):
            found[name] = value
    return found


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A dead letter: its body, text headers, key, where it sits, and when the broker got it.

    ``where`` names it for people (``orders.dlq[0]@12``, ``orders.dlq#3``).
    The other fields read the ``x-dlq-*`` headers the worker wrote; a message
    without them (dead-lettered by RabbitMQ itself, say) has reason ``unknown``.
    """

    body: bytes
    headers: Mapping[str, str]
    key: str | None
    where: str
    timestamp: datetime.datetime | None = None

    @property
    def reason(self) -> str:
        return self.headers.get(REASON) or "unknown"

    @property
    def exception_type(self) -> str:
        return self.headers.get(EXCEPTION_TYPE) or "-"

    @property
    def event_name(self) -> str:
        return self.headers.get(EVENT_NAME_HEADER) or _from_body(self.body, "event_name") or "-"

    @property
    def event_id(self) -> str:
        return self.headers.get(EVENT_ID_HEADER) or _from_body(self.body, "event_id") or "-"

    @property
    def dead_lettered_at(self) -> datetime.datetime | None:
        """When it was dead-lettered: ``x-dlq-last-failure-at``, else the broker's timestamp."""
        text = self.headers.get(LAST_FAILURE_AT)
        if text:
            try:
                return _aware(datetime.datetime.fromisoformat(text))
            except ValueError:
                pass
        return self.timestamp

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: the summary fields, every header, and the body (text or base64)."""
        at = self.dead_lettered_at
        data: dict[str, Any] = {
            "where": self.where,
            "event_id": self.event_id,
            "event_name": self.event_name,
            "reason": self.reason,
            "exception_type": self.exception_type,
            "dead_lettered_at": at.isoformat() if at else None,
            "key": self.key,
            "headers": dict(self.headers),
        }
        try:
            data["body"] = self.body.decode()
        except UnicodeDecodeError:
            data["body_base64"] = base64.b64encode(self.body).decode()
        return data


def _aware(moment: datetime.datetime) -> datetime.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


def _from_body(body: bytes, field: str) -> str | None:
    """The envelope's ``field`` (python-cqrs producers send no name/id headers)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    camel = "".join(part.capitalize() if i else part for i, part in enumerate(field.split("_")))
    value = data.get(field, data.get(camel))
    return str(value) if value is not None else None

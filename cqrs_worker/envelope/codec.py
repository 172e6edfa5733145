"""The wire format: an event as orjson bytes, and bytes back into a typed event.

The envelope is the JSON object python-cqrs writes::

    {"event_id": "…uuid…", "event_name": "UserJoined", "topic": "users",
     "event_timestamp": "2026-11-26T06:54:28.750012+00:00", "payload": {…},
     "partition_key": "…"}          # partition_key only when set

Envelopes written by python-cqrs's dataclass events (camelCase keys, naive
timestamps) decode too. The event name and id also travel as message headers
(:data:`EVENT_NAME_HEADER`, :data:`EVENT_ID_HEADER`) so a consumer can route
without parsing the body; the header wins when both are present.

Decoding never returns ``None`` and never swallows a failure: it raises one of
the :class:`~cqrs_worker.errors.DecodeError` subclasses. ``event_id`` and
``event_timestamp`` must be in the body: decoding never makes them up.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson
import pydantic
import pydantic_core

from cqrs_worker.envelope.registry import EventRegistry
from cqrs_worker.errors import (
    MessageTooLargeError,
    NotAnEnvelopeError,
    NotJsonError,
    PayloadValidationError,
    UnknownEventError,
)
from cqrs_worker.events import WireEvent
from cqrs_worker.maps import topic_of
from cqrs_worker.observability.tracing import trace_headers

__all__ = [
    "CONTENT_TYPE",
    "CONTENT_TYPE_HEADER",
    "EVENT_ID_HEADER",
    "EVENT_NAME_HEADER",
    "EnvelopeCodec",
    "encode_event",
    "event_headers",
]

EVENT_NAME_HEADER = "event_name"
EVENT_ID_HEADER = "event_id"
CONTENT_TYPE_HEADER = "content-type"
CONTENT_TYPE = "application/json"

_ENVELOPE_FIELDS = frozenset({"event_id", "event_name", "event_timestamp", "topic", "payload"})
# Fields whose defaults are made up when an event is created. A decoded event
# already happened: a fresh id would defeat deduplication, so they must be sent.
_SENT_FIELDS = ("event_id", "event_timestamp")
_COMPLETE = frozenset({"event_name", "topic", *_SENT_FIELDS})
_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")


def encode_event(event: WireEvent[Any]) -> bytes:
    """The envelope bytes of ``event``."""
    data = event.model_dump(mode="python")
    if data.get("partition_key") is None:
        data.pop("partition_key", None)
    return orjson.dumps(data, default=pydantic_core.to_jsonable_python)


def event_headers(event: WireEvent[Any]) -> dict[str, str]:
    """The headers that travel with ``event``: its name, id and content type, and the
    active trace context when OpenTelemetry is installed
    (:mod:`cqrs_worker.observability.tracing`)."""
    return {
        EVENT_NAME_HEADER: event.event_name,
        EVENT_ID_HEADER: str(event.event_id),
        CONTENT_TYPE_HEADER: CONTENT_TYPE,
        **trace_headers(),
    }


class EnvelopeCodec:
    """Turns message bodies into the event classes of an :class:`EventRegistry`.

    ``max_size`` (bytes) rejects larger bodies before parsing them.
    """

    def __init__(self, registry: EventRegistry, *, max_size: int | None = None) -> None:
        self.registry = registry
        self._max_size = max_size

    def decode(self, body: bytes, event_name: str | None = None) -> WireEvent[Any]:
        """Decode ``body``; ``event_name`` is the name header, when the message had one."""
        if self._max_size is not None and len(body) > self._max_size:
            raise MessageTooLargeError(
                f"message body of {len(body)} bytes exceeds the {self._max_size}-byte limit",
                event_name=event_name,
            )
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise NotJsonError(f"body is not JSON: {exc}", event_name=event_name) from exc
        if event_name is not None and type(data) is dict and data.keys() >= _COMPLETE:
            # The usual message: named by its header, every envelope field sent.
            event_type = self.registry.get(event_name)
            if event_type is not None:
                try:
                    return event_type.__pydantic_validator__.validate_python(data)  # type: ignore[no-any-return]
                except pydantic.ValidationError:
                    pass  # _decode says precisely what is wrong
        return self._decode(data, event_name)

    def _decode(self, data: Any, event_name: str | None) -> WireEvent[Any]:
        """Every check, each failure its own error (the fast path above only succeeds)."""
        if not isinstance(data, dict):
            raise NotAnEnvelopeError(
                f"body is a JSON {type(data).__name__}, not an event envelope object",
                event_name=event_name,
            )
        if "event_name" not in data and "eventName" in data:
            data = _snake_keys(data)
        name = event_name or data.get("event_name")
        raw_id = data.get("event_id")
        event_id = raw_id if isinstance(raw_id, str) else None
        if not isinstance(name, str):
            raise NotAnEnvelopeError(
                "message has no event_name (neither header nor body field)", event_id=event_id
            )
        event_type: type[WireEvent[Any]] | None = self.registry.get(name)
        if event_type is None:
            raise UnknownEventError(
                f"no event class is registered for event name {name!r}",
                event_name=name,
                event_id=event_id,
            )
        if "event_id" not in data or "event_timestamp" not in data:
            missing = " or ".join(field for field in _SENT_FIELDS if field not in data)
            raise NotAnEnvelopeError(
                f"{name} envelope has no {missing}", event_name=name, event_id=event_id
            )
        if "event_name" not in data:  # named by the header alone
            data["event_name"] = name
        if "topic" not in data and topic_of(event_type) is None:
            # WireEvent defaults a missing topic when an event is built; an
            # envelope always names the topic it was sent to.
            raise NotAnEnvelopeError(
                f"{name} failed validation: topic: Field required",
                event_name=name,
                event_id=event_id,
            )
        try:
            try:
                # The validator, not model_validate: python-cqrs's dataclass events
                # (cqrs_worker.dataclass_models) are pydantic dataclasses.
                return event_type.__pydantic_validator__.validate_python(data)  # type: ignore[no-any-return]
            except pydantic.ValidationError as exc:
                if not _has_unknown_fields(exc):
                    raise
            # Events refuse unknown fields when built in code; a message may carry
            # fields its producer added before this consumer knew them.
            known = event_type.model_fields
            return event_type.model_validate({k: v for k, v in data.items() if k in known})
        except pydantic.ValidationError as exc:
            error = NotAnEnvelopeError if _envelope_broken(exc) else PayloadValidationError
            raise error(
                f"{name} failed validation: {_summary(exc)}", event_name=name, event_id=event_id
            ) from exc

    def decode_event_name(self, headers: Mapping[str, Any]) -> str | None:
        """The event name from message headers (str or bytes values), if present."""
        value = headers.get(EVENT_NAME_HEADER)
        if isinstance(value, bytes | bytearray):
            try:
                return bytes(value).decode()
            except UnicodeDecodeError:
                return None
        return value if isinstance(value, str) else None


def _has_unknown_fields(exc: pydantic.ValidationError) -> bool:
    return any(
        err["type"] == "extra_forbidden" and len(err["loc"]) == 1
        for err in exc.errors(include_url=False, include_input=False)
    )


def _envelope_broken(exc: pydantic.ValidationError) -> bool:
    return any(
        err["type"] == "missing" and len(err["loc"]) == 1 and err["loc"][0] in _ENVELOPE_FIELDS
        for err in exc.errors(include_url=False, include_input=False)
    )


def _summary(exc: pydantic.ValidationError) -> str:
    parts = [
        f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
        for err in exc.errors(include_url=False, include_input=False)[:5]
    ]
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def _snake_keys(value: Any) -> Any:
    """python-cqrs dataclass events write camelCase keys at every level."""
    if isinstance(value, dict):
        return {
            (_CAMEL.sub(r"_\1", k).lower() if isinstance(k, str) else k): _snake_keys(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_snake_keys(v) for v in value]
    return value

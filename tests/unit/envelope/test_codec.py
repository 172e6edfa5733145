"""EnvelopeCodec and encode_event: the wire format, and every way bytes can be wrong."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import orjson
import pydantic
import pytest

from cqrs_worker.envelope import (
    CONTENT_TYPE,
    CONTENT_TYPE_HEADER,
    EVENT_ID_HEADER,
    EVENT_NAME_HEADER,
    EnvelopeCodec,
    EventRegistry,
    encode_event,
    event_headers,
)
from cqrs_worker.errors import (
    DecodeError,
    MessageTooLargeError,
    NotAnEnvelopeError,
    NotJsonError,
    PayloadValidationError,
    UnknownEventError,
)
from cqrs_worker.events import ECSTEvent, NotificationEvent

EVENT_ID = "2f1c7a8e-4f37-4c1c-9b0e-7b3d3f6f9a11"
TIMESTAMP = "2026-01-02T03:04:05.123456+00:00"


class UserPayload(pydantic.BaseModel):
    user_id: str
    age: int


class UserJoined(NotificationEvent[UserPayload]):
    event_name: str = "UserJoined"
    topic: str = "users"


class UserState(ECSTEvent[UserPayload]):
    event_name: str = "UserState"
    topic: str = "users-state"


@pytest.fixture
def codec() -> EnvelopeCodec:
    registry = EventRegistry()
    registry.register(UserJoined)
    registry.register(UserState)
    registry.register(NotificationEvent[UserPayload], name="UserLeft")
    return EnvelopeCodec(registry)


def envelope(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_id": EVENT_ID,
        "event_timestamp": TIMESTAMP,
        "event_name": "UserJoined",
        "topic": "users",
        "payload": {"user_id": "u-1", "age": 30},
    }
    body.update(fields)
    return {key: value for key, value in body.items() if value is not ...}


def test_encode_writes_the_envelope_object() -> None:
    event = UserJoined(
        event_id=uuid.UUID(EVENT_ID),
        event_timestamp=datetime.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=datetime.UTC),
        payload=UserPayload(user_id="u-1", age=30),
    )

    assert orjson.loads(encode_event(event)) == envelope()


def test_encode_writes_partition_key_only_when_set() -> None:
    keyed = UserJoined(payload=UserPayload(user_id="u-1", age=30), partition_key="u-1")
    unkeyed = UserJoined(payload=UserPayload(user_id="u-1", age=30))

    assert orjson.loads(encode_event(keyed))["partition_key"] == "u-1"
    assert "partition_key" not in orjson.loads(encode_event(unkeyed))


@pytest.mark.parametrize(
    "event",
    [
        UserJoined(payload=UserPayload(user_id="u-1", age=30)),
        UserJoined(payload=UserPayload(user_id="u-1", age=30), partition_key="u-1"),
        UserState(payload=UserPayload(user_id="u-2", age=41)),
        NotificationEvent[UserPayload](
            event_name="UserLeft", topic="users", payload=UserPayload(user_id="u-3", age=5)
        ),
    ],
    ids=["subclass", "partition-key", "ecst", "parametrized"],
)
def test_round_trip(codec: EnvelopeCodec, event: Any) -> None:
    decoded = codec.decode(encode_event(event))

    assert type(decoded) is type(event)
    assert decoded == event
    assert decoded.event_timestamp.utcoffset() == datetime.timedelta(0)


def test_round_trip_with_the_header_name(codec: EnvelopeCodec) -> None:
    event = UserJoined(payload=UserPayload(user_id="u-1", age=30))
    headers = event_headers(event)

    decoded = codec.decode(encode_event(event), codec.decode_event_name(headers))

    assert decoded == event


def test_event_headers_carry_name_id_and_content_type() -> None:
    event = UserJoined(payload=UserPayload(user_id="u-1", age=30))

    assert event_headers(event) == {
        EVENT_NAME_HEADER: "UserJoined",
        EVENT_ID_HEADER: str(event.event_id),
        CONTENT_TYPE_HEADER: CONTENT_TYPE,
    }
    assert CONTENT_TYPE == "application/json"


def test_header_name_wins_over_body_name(codec: EnvelopeCodec) -> None:
    body = orjson.dumps(envelope(event_name="UserJoined", topic="users-state"))

    decoded = codec.decode(body, "UserState")

    assert type(decoded) is UserState


def test_header_alone_names_the_event(codec: EnvelopeCodec) -> None:
    body = orjson.dumps(envelope(event_name=...))

    decoded = codec.decode(body, "UserLeft")

    assert type(decoded) is NotificationEvent[UserPayload]
    assert decoded.event_name == "UserLeft"


def test_naive_and_offset_timestamps_decode_as_utc(codec: EnvelopeCodec) -> None:
    naive = codec.decode(orjson.dumps(envelope(event_timestamp="2026-01-02T03:04:05.123456")))
    offset = codec.decode(
        orjson.dumps(envelope(event_timestamp="2026-01-02T04:04:05.123456+01:00"))
    )

    expected = datetime.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=datetime.UTC)
    assert naive.event_timestamp == expected
    assert offset.event_timestamp == expected
    assert offset.event_timestamp.utcoffset() == datetime.timedelta(0)


def test_unknown_fields_are_ignored(codec: EnvelopeCodec) -> None:
    decoded = codec.decode(orjson.dumps(envelope(trace_id="abc")))

    assert decoded.event_id == uuid.UUID(EVENT_ID)


def test_unknown_fields_are_ignored_when_a_header_names_the_event(codec: EnvelopeCodec) -> None:
    # Events refuse unknown fields when built in code; a message from a newer producer is decoded.
    decoded = codec.decode(orjson.dumps(envelope(trace_id="abc")), "UserJoined")

    assert decoded.event_id == uuid.UUID(EVENT_ID)
    assert "trace_id" not in decoded.model_dump()


class Case:
    def __init__(
        self,
        body: bytes,
        error: type[DecodeError],
        reason: str,
        event_name: str | None,
        event_id: str | None,
        match: str,
        header: str | None = None,
    ) -> None:
        self.body = body
        self.error = error
        self.reason = reason
        self.event_name = event_name
        self.event_id = event_id
        self.match = match
        self.header = header


CASES = {
    "not-json": Case(b"{not json", NotJsonError, "not-json", None, None, "not JSON"),
    "not-json-with-header": Case(
        b"\x00\x01", NotJsonError, "not-json", "UserJoined", None, "not JSON", "UserJoined"
    ),
    "empty-body": Case(b"", NotJsonError, "not-json", None, None, "not JSON"),
    "invalid-utf8": Case(
        b'{"event_name": "User\xff\xfe"}', NotJsonError, "not-json", None, None, "not JSON"
    ),
    "json-array": Case(
        b'[{"event_name": "UserJoined"}]',
        NotAnEnvelopeError,
        "not-an-envelope",
        None,
        None,
        "JSON list, not an event envelope",
    ),
    "json-string": Case(
        b'"UserJoined"', NotAnEnvelopeError, "not-an-envelope", None, None, "JSON str"
    ),
    "missing-event-name": Case(
        orjson.dumps(envelope(event_name=...)),
        NotAnEnvelopeError,
        "not-an-envelope",
        None,
        EVENT_ID,
        "no event_name",
    ),
    "event-name-not-a-string": Case(
        orjson.dumps(envelope(event_name=7)),
        NotAnEnvelopeError,
        "not-an-envelope",
        None,
        EVENT_ID,
        "no event_name",
    ),
    "missing-payload": Case(
        orjson.dumps(envelope(payload=...)),
        NotAnEnvelopeError,
        "not-an-envelope",
        "UserJoined",
        EVENT_ID,
        "payload: Field required",
    ),
    "missing-topic-without-default": Case(
        orjson.dumps(envelope(event_name="UserLeft", topic=...)),
        NotAnEnvelopeError,
        "not-an-envelope",
        "UserLeft",
        EVENT_ID,
        "topic: Field required",
    ),
    "missing-event-id": Case(
        orjson.dumps(envelope(event_id=...)),
        NotAnEnvelopeError,
        "not-an-envelope",
        "UserJoined",
        None,
        "has no event_id",
    ),
    "missing-event-timestamp": Case(
        orjson.dumps(envelope(event_timestamp=...)),
        NotAnEnvelopeError,
        "not-an-envelope",
        "UserJoined",
        EVENT_ID,
        "has no event_timestamp",
    ),
    "unknown-name": Case(
        orjson.dumps(envelope(event_name="UserExploded")),
        UnknownEventError,
        "unknown-event",
        "UserExploded",
        EVENT_ID,
        "no event class is registered for event name 'UserExploded'",
    ),
    "unknown-header-name": Case(
        orjson.dumps(envelope()),
        UnknownEventError,
        "unknown-event",
        "UserVanished",
        EVENT_ID,
        "'UserVanished'",
        "UserVanished",
    ),
    "payload-wrong-type": Case(
        orjson.dumps(envelope(payload={"user_id": "u-1", "age": "thirty"})),
        PayloadValidationError,
        "invalid-payload",
        "UserJoined",
        EVENT_ID,
        "payload.age: Input should be a valid integer",
    ),
    "payload-missing-field": Case(
        orjson.dumps(envelope(payload={"user_id": "u-1"})),
        PayloadValidationError,
        "invalid-payload",
        "UserJoined",
        EVENT_ID,
        "payload.age: Field required",
    ),
    "bad-event-id": Case(
        orjson.dumps(envelope(event_id="not-a-uuid")),
        PayloadValidationError,
        "invalid-payload",
        "UserJoined",
        "not-a-uuid",
        "event_id",
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_malformed_messages_raise_typed_decode_errors(codec: EnvelopeCodec, case: Case) -> None:
    with pytest.raises(case.error, match=case.match) as caught:
        codec.decode(case.body, case.header)

    error = caught.value
    assert type(error) is case.error
    assert isinstance(error, DecodeError)
    assert error.reason == case.reason
    assert error.event_name == case.event_name
    assert error.event_id == case.event_id


NAMED_IN_BODY = {k: c for k, c in CASES.items() if c.header is None and c.event_name is not None}


@pytest.mark.parametrize("case", NAMED_IN_BODY.values(), ids=NAMED_IN_BODY.keys())
def test_the_same_errors_when_a_header_names_the_event(codec: EnvelopeCodec, case: Case) -> None:
    # A header name takes the fast path first; whatever fails there is decided as without it.
    with pytest.raises(case.error, match=case.match) as caught:
        codec.decode(case.body, case.event_name)

    assert caught.value.reason == case.reason
    assert caught.value.event_id == case.event_id


def test_too_large_is_refused_before_parsing() -> None:
    codec = EnvelopeCodec(EventRegistry(), max_size=64)
    body = b"{" + b" " * 100  # not even JSON: the size check comes first

    with pytest.raises(MessageTooLargeError, match="101 bytes exceeds the 64-byte limit") as caught:
        codec.decode(body, "UserJoined")

    assert caught.value.reason == "too-large"
    assert caught.value.event_name == "UserJoined"


def test_body_at_the_size_limit_is_accepted(codec: EnvelopeCodec) -> None:
    body = encode_event(UserJoined(payload=UserPayload(user_id="u-1", age=30)))
    at_limit = EnvelopeCodec(codec.registry, max_size=len(body))

    assert at_limit.decode(body).event_name == "UserJoined"
    with pytest.raises(MessageTooLargeError):
        EnvelopeCodec(codec.registry, max_size=len(body) - 1).decode(body)


def test_validation_summary_is_capped() -> None:
    class Wide(pydantic.BaseModel):
        a: int
        b: int
        c: int
        d: int
        e: int
        f: int
        g: int

    registry = EventRegistry()
    registry.register(NotificationEvent[Wide], name="Wide")
    body = orjson.dumps(envelope(event_name="Wide", payload={}))

    with pytest.raises(PayloadValidationError, match=r"\(\+2 more\)$"):
        EnvelopeCodec(registry).decode(body)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({EVENT_NAME_HEADER: "UserJoined"}, "UserJoined"),
        ({EVENT_NAME_HEADER: b"UserJoined"}, "UserJoined"),
        ({EVENT_NAME_HEADER: bytearray(b"UserJoined")}, "UserJoined"),
        ({EVENT_NAME_HEADER: b"\xff\xfe"}, None),
        ({EVENT_NAME_HEADER: 7}, None),
        ({}, None),
    ],
    ids=["str", "bytes", "bytearray", "invalid-utf8", "not-text", "absent"],
)
def test_decode_event_name_reads_the_header(
    codec: EnvelopeCodec, headers: dict[str, Any], expected: str | None
) -> None:
    assert codec.decode_event_name(headers) == expected

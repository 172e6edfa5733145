"""Event models: envelope fields, defaults, UTC timestamps, immutability."""

from __future__ import annotations

import datetime
import uuid

import pydantic
import pytest

from cqrs_worker.events import (
    DomainEvent,
    ECSTEvent,
    NotificationEvent,
    WireEvent,
    emitted_events,
)


class UserPayload(pydantic.BaseModel):
    user_id: str


class UserJoined(NotificationEvent[UserPayload]):
    event_name: str = "UserJoined"
    topic: str = "users"


class UserRenamed(DomainEvent):
    user_id: str


def joined(**fields: object) -> UserJoined:
    return UserJoined.model_validate({"payload": {"user_id": "u-1"}, **fields})


def test_event_id_defaults_to_a_fresh_uuid4() -> None:
    first, second = joined(), joined()

    assert isinstance(first.event_id, uuid.UUID)
    assert first.event_id.version == 4
    assert first.event_id != second.event_id


def test_event_timestamp_defaults_to_aware_utc_now() -> None:
    before = datetime.datetime.now(datetime.UTC)
    event = joined()
    after = datetime.datetime.now(datetime.UTC)

    assert event.event_timestamp.utcoffset() == datetime.timedelta(0)
    assert before <= event.event_timestamp <= after


def test_naive_timestamp_is_taken_as_utc() -> None:
    event = joined(event_timestamp=datetime.datetime(2026, 1, 2, 3, 4, 5))

    assert event.event_timestamp == datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    assert event.event_timestamp.utcoffset() == datetime.timedelta(0)


def test_timestamp_with_another_offset_is_converted_to_utc() -> None:
    plus_two = datetime.timezone(datetime.timedelta(hours=2))
    event = joined(event_timestamp=datetime.datetime(2026, 1, 2, 3, 0, tzinfo=plus_two))

    assert event.event_timestamp.utcoffset() == datetime.timedelta(0)
    assert event.event_timestamp.hour == 1


def test_timestamp_strings_are_parsed_as_utc() -> None:
    naive = joined(event_timestamp="2026-01-02T03:04:05.123456")
    aware = joined(event_timestamp="2026-01-02T05:04:05.123456+02:00")

    expected = datetime.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=datetime.UTC)
    assert naive.event_timestamp == expected
    assert aware.event_timestamp == expected
    assert aware.event_timestamp.utcoffset() == datetime.timedelta(0)


def test_envelope_fields() -> None:
    event_id = uuid.uuid4()
    event = joined(event_id=event_id, partition_key="u-1")

    assert event.event_id == event_id
    assert event.event_name == "UserJoined"
    assert event.topic == "users"
    assert event.payload == UserPayload(user_id="u-1")
    assert event.partition_key == "u-1"
    assert joined().partition_key is None


def test_parametrized_event_needs_name_and_payload() -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        NotificationEvent[UserPayload].model_validate({})

    missing = {err["loc"][0] for err in caught.value.errors() if err["type"] == "missing"}
    assert missing == {"event_name", "payload"}


def test_payload_is_validated() -> None:
    with pytest.raises(pydantic.ValidationError, match="user_id"):
        UserJoined.model_validate({"payload": {"id": 1}})


def test_events_are_immutable_and_hash_by_id() -> None:
    event = joined()

    with pytest.raises(pydantic.ValidationError):
        event.topic = "elsewhere"  # type: ignore[misc]  # frozen: the assignment is the test
    assert hash(event) == hash(event.event_id)
    assert len({event, event.model_copy()}) == 1


def test_notification_and_ecst_events_are_wire_events() -> None:
    assert issubclass(NotificationEvent[UserPayload], WireEvent)
    assert issubclass(ECSTEvent[UserPayload], WireEvent)
    assert not issubclass(UserRenamed, WireEvent)


def test_emitted_events_reads_the_events_attribute() -> None:
    class Emits:
        def __init__(self) -> None:
            self.events = [UserRenamed(user_id="a")]

    class EmitsNothing:
        pass

    assert emitted_events(Emits()) == (UserRenamed(user_id="a"),)
    assert emitted_events(EmitsNothing()) == ()


def test_unknown_fields_are_an_error() -> None:
    with pytest.raises(pydantic.ValidationError, match="meeting_room_id\n  Extra inputs"):
        NotificationEvent[dict[str, int]](
            event_name="Closed", topic="rooms", payload={}, meeting_room_id=1
        )


def test_a_class_may_allow_unknown_fields() -> None:
    class Loose(DomainEvent):
        model_config = pydantic.ConfigDict(extra="allow")

    assert Loose(note="kept").model_extra == {"note": "kept"}


def test_event_topic_is_python_cqrs_spelling_of_topic() -> None:
    event = NotificationEvent[dict[str, int]](event_topic="rooms", event_name="Closed", payload={})

    assert event.topic == "rooms"
    assert "event_topic" not in event.model_dump()


def test_an_event_without_topic_goes_to_the_default_topic(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CQRS_WORKER_DEFAULT_TOPIC", raising=False)
    assert ECSTEvent[dict[str, int]](event_name="Closed", payload={}).topic == "output_topic"

    monkeypatch.setenv("CQRS_WORKER_DEFAULT_TOPIC", "rooms")
    assert ECSTEvent[dict[str, int]](event_name="Closed", payload={}).topic == "rooms"

"""Envelopes travel both ways between python-cqrs 5.3 and cqrs-worker, unchanged.

python-cqrs is a test-only dependency: these tests pin the wire format its
producers write (dataclass events: camelCase keys, hex ids, naive local
timestamps; pydantic events: snake_case keys) and the one its consumers read.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from typing import Any

import cqrs
import orjson
import pydantic
import pytest
from cqrs.deserializers.exceptions import DeserializeJsonError
from cqrs.deserializers.json import JsonDeserializer
from cqrs.serializers.default import default_serializer, headers_for_content_type

from cqrs_worker.envelope import EnvelopeCodec, EventRegistry, encode_event
from cqrs_worker.events import NotificationEvent

NAIVE = datetime.datetime(2026, 1, 2, 3, 4, 5, 123456)
AWARE = NAIVE.replace(tzinfo=datetime.UTC)


@dataclasses.dataclass(frozen=True)
class DataclassPayload:
    user_id: str
    display_name: str


class PydanticPayload(pydantic.BaseModel):
    user_id: str
    display_name: str


class Payload(pydantic.BaseModel):
    """Our side of the same payload."""

    user_id: str
    display_name: str


class UserJoined(NotificationEvent[Payload]):
    event_name: str = "UserJoined"
    topic: str = "users"


class TheirUserJoined(cqrs.NotificationEvent[DataclassPayload]):
    """A python-cqrs dataclass event whose payload field is typed, so it is rebuilt."""

    payload: DataclassPayload


OUR_TYPES: dict[str, type[NotificationEvent[Payload]]] = {
    "subclass": UserJoined,
    "parametrized": NotificationEvent[Payload],
}


def codec_for(event_type: type[NotificationEvent[Payload]]) -> EnvelopeCodec:
    registry = EventRegistry()
    registry.register(event_type, name="UserJoined")
    return EnvelopeCodec(registry)


def their_dataclass_event(**fields: Any) -> Any:
    return cqrs.NotificationEvent[DataclassPayload](
        event_name="UserJoined",
        topic="users",
        payload=DataclassPayload(user_id="u-1", display_name="Ann Lee"),
        **fields,
    )


def their_pydantic_event(**fields: Any) -> Any:
    return cqrs.PydanticNotificationEvent[PydanticPayload](
        event_name="UserJoined",
        topic="users",
        payload=PydanticPayload(user_id="u-1", display_name="Ann Lee"),
        **fields,
    )


def assert_same_fields(ours: NotificationEvent[Payload], theirs: Any, timestamp: Any) -> None:
    assert ours.event_id == theirs.event_id
    assert ours.event_timestamp == timestamp
    assert ours.event_timestamp.utcoffset() == datetime.timedelta(0)
    assert ours.event_name == theirs.event_name == "UserJoined"
    assert ours.topic == theirs.topic == "users"
    assert ours.payload == Payload(user_id="u-1", display_name="Ann Lee")
    assert ours.partition_key is None


@pytest.mark.parametrize("our_type", OUR_TYPES.values(), ids=OUR_TYPES.keys())
def test_python_cqrs_dataclass_envelope_decodes_here(
    our_type: type[NotificationEvent[Payload]],
) -> None:
    theirs = their_dataclass_event(event_timestamp=NAIVE)
    body = bytes(default_serializer(theirs))
    wire = orjson.loads(body)
    # The format this test covers: camelCase keys, a hex id, a naive timestamp.
    assert set(wire) == {"eventId", "eventName", "eventTimestamp", "topic", "payload"}
    assert wire["eventId"] == theirs.event_id.hex
    assert wire["eventTimestamp"] == "2026-01-02T03:04:05.123456"
    assert wire["payload"] == {"userId": "u-1", "displayName": "Ann Lee"}

    ours = codec_for(our_type).decode(body)

    assert type(ours) is our_type
    assert_same_fields(ours, theirs, AWARE)


@pytest.mark.parametrize("our_type", OUR_TYPES.values(), ids=OUR_TYPES.keys())
@pytest.mark.parametrize("timestamp", [NAIVE, AWARE], ids=["naive", "aware"])
def test_python_cqrs_pydantic_envelope_decodes_here(
    our_type: type[NotificationEvent[Payload]], timestamp: datetime.datetime
) -> None:
    theirs = their_pydantic_event(event_timestamp=timestamp)
    body = bytes(default_serializer(theirs))
    assert set(orjson.loads(body)) == {
        "event_id",
        "event_name",
        "event_timestamp",
        "topic",
        "payload",
    }

    ours = codec_for(our_type).decode(body)

    assert type(ours) is our_type
    assert_same_fields(ours, theirs, AWARE)


def test_python_cqrs_event_name_header_is_read_here() -> None:
    theirs = their_pydantic_event()
    _, headers = headers_for_content_type("application/json", theirs)
    assert headers is not None
    codec = codec_for(UserJoined)

    name = codec.decode_event_name(headers)
    ours = codec.decode(bytes(default_serializer(theirs)), name)

    assert name == "UserJoined"
    assert ours.event_id == theirs.event_id


def our_event(partition_key: str | None) -> UserJoined:
    return UserJoined(
        event_id=uuid.uuid4(),
        event_timestamp=AWARE,
        payload=Payload(user_id="u-1", display_name="Ann Lee"),
        partition_key=partition_key,
    )


def decoded_by_python_cqrs(model: Any, body: bytes) -> Any:
    result = JsonDeserializer(model)(body)
    assert not isinstance(result, DeserializeJsonError), result
    return result


@pytest.mark.parametrize("partition_key", [None, "u-1"], ids=["no-key", "with-partition-key"])
def test_our_envelope_decodes_in_python_cqrs_pydantic_event(partition_key: str | None) -> None:
    ours = our_event(partition_key)
    model = cqrs.PydanticNotificationEvent[PydanticPayload]

    theirs = decoded_by_python_cqrs(model, encode_event(ours))

    assert isinstance(theirs, model)
    assert theirs.event_id == ours.event_id
    assert theirs.event_timestamp == ours.event_timestamp
    assert theirs.event_name == "UserJoined"
    assert theirs.topic == "users"
    assert theirs.payload == PydanticPayload(user_id="u-1", display_name="Ann Lee")
    assert "partition_key" not in theirs.model_dump(), "python-cqrs ignores the extra key"


@pytest.mark.parametrize("partition_key", [None, "u-1"], ids=["no-key", "with-partition-key"])
def test_our_envelope_decodes_in_python_cqrs_dataclass_event(partition_key: str | None) -> None:
    ours = our_event(partition_key)
    body = encode_event(ours)

    typed = decoded_by_python_cqrs(TheirUserJoined, body)
    generic = decoded_by_python_cqrs(cqrs.NotificationEvent[DataclassPayload], body)

    for theirs in (typed, generic):
        assert theirs.event_id == ours.event_id
        assert theirs.event_timestamp == ours.event_timestamp
        assert theirs.event_name == "UserJoined"
        assert theirs.topic == "users"
        assert not hasattr(theirs, "partition_key"), "python-cqrs ignores the extra key"
    assert typed.payload == DataclassPayload(user_id="u-1", display_name="Ann Lee")
    # python-cqrs cannot see the type argument of a bare generic alias, so it
    # leaves the payload a dict, exactly as it does for its own envelopes.
    assert generic.payload == {"user_id": "u-1", "display_name": "Ann Lee"}


def test_python_cqrs_reads_back_what_it_wrote_the_same_way() -> None:
    """Control for the dict payload above: python-cqrs's own bytes behave alike."""
    theirs = their_dataclass_event(event_timestamp=NAIVE)

    again = decoded_by_python_cqrs(
        cqrs.NotificationEvent[DataclassPayload], bytes(default_serializer(theirs))
    )

    assert isinstance(again.payload, dict)

"""``LaneChooser``: the lane of a message per ``ORDERING`` mode and ``ORDERING_KEY``."""

from __future__ import annotations

import orjson
import pytest

from cqrs_worker.errors import ConfigurationError
from cqrs_worker.worker.ordering import LaneChooser, parse_ordering_key
from cqrs_worker.worker.settings import load_settings

SCOPE = ("orders", 3)


def _envelope(**fields: object) -> bytes:
    return orjson.dumps({"event_name": "E", "payload": {"order_id": 7}, **fields})


def test_key_mode_is_per_key_and_keyless_per_partition() -> None:
    choose = LaneChooser()
    assert choose(SCOPE, b"a", b"{}") == ("orders", 3, b"a")
    assert choose(SCOPE, b"a", b"{}") == choose(SCOPE, b"a", b"other body")
    assert choose(SCOPE, None, b"{}") == SCOPE
    # Without ORDERING_KEY the body is not looked at: keyless stays per partition.
    assert choose(SCOPE, None, _envelope(partition_key="k")) == SCOPE


def test_partition_mode_serializes_every_key() -> None:
    choose = LaneChooser(mode="partition")
    assert choose(SCOPE, b"a", b"{}") == choose(SCOPE, b"b", b"{}") == SCOPE
    assert choose(SCOPE, None, b"{}") == SCOPE


def test_unordered_mode_gives_every_message_its_own_lane() -> None:
    choose = LaneChooser(mode="unordered")
    lanes = {choose(SCOPE, key, b"{}") for key in (None, None, b"a", b"a")}
    assert len(lanes) == 4


def test_ordering_key_from_the_envelope_partition_key() -> None:
    choose = LaneChooser(key_from="partition_key")
    lane = choose(SCOPE, None, _envelope(partition_key="user-1"))
    # The same lane as a record keyed by those bytes: one key, one order.
    assert lane == choose(SCOPE, b"user-1", b"{}") == ("orders", 3, b"user-1")
    assert choose(SCOPE, None, _envelope(partition_key="user-2")) != lane
    # The Kafka key wins over the body's.
    assert choose(SCOPE, b"k", _envelope(partition_key="user-1")) == ("orders", 3, b"k")


def test_ordering_key_from_a_payload_field() -> None:
    choose = LaneChooser(key_from="payload.order_id")
    assert choose(SCOPE, None, _envelope()) == ("orders", 3, b"7")
    assert choose(SCOPE, None, orjson.dumps({"payload": {"order_id": "x"}})) == (
        "orders",
        3,
        b"x",
    )


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        orjson.dumps({"payload": "flat"}),
        orjson.dumps({"payload": {"order_id": None}}),
        orjson.dumps({"payload": {"order_id": {"nested": 1}}}),
        orjson.dumps({"payload": {"order_id": True}}),
        b"",
    ],
)
def test_a_body_without_the_key_falls_back_to_the_partition_lane(body: bytes) -> None:
    assert LaneChooser(key_from="payload.order_id")(SCOPE, None, body) == SCOPE


def test_rabbitmq_header_keys_share_lanes_with_body_keys() -> None:
    choose = LaneChooser(key_from="partition_key")
    queue = ("group.orders",)
    assert choose(queue, "user-1", b"{}") == choose(queue, None, _envelope(partition_key="user-1"))


@pytest.mark.parametrize("value", ["payload", "payload.", "payload.a.b", "key", "headers.x"])
def test_a_wrong_ordering_key_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match=r"partition_key' or 'payload.<field>"):
        parse_ordering_key(value)
    with pytest.raises(ConfigurationError, match="CQRS_WORKER_ORDERING_KEY"):
        load_settings(ordering_key=value)


def test_ordering_settings() -> None:
    settings = load_settings(ordering="Unordered", ordering_key=" payload.id ")
    assert (settings.ordering, settings.ordering_key) == ("unordered", "payload.id")
    assert load_settings().ordering == "key"
    assert load_settings().ordering_key is None
    with pytest.raises(ConfigurationError, match=r"CQRS_WORKER_ORDERING \(--ordering\)"):
        load_settings(ordering="random")
    with pytest.raises(ConfigurationError, match="ordering must be one of"):
        LaneChooser(mode="random")  # type: ignore[arg-type]  # checked at run time too

"""The AsyncAPI builder: documents valid against the official AsyncAPI 3.0.0 JSON Schema
(vendored in tests/support/asyncapi), and message schemas that match the real envelope."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema
import orjson
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from cqrs_worker.envelope import encode_event
from cqrs_worker.errors import ConfigurationError
from cqrs_worker.introspection import build_asyncapi
from cqrs_worker.introspection.asyncapi import routing_key_matches
from cqrs_worker.maps import EventMap
from cqrs_worker.worker.settings import WorkerSettings, load_settings
from tests.support.asyncapi import asyncapi_errors, validate_asyncapi
from tests.unit.introspection.sample_app import Money, Order, OrderPlaced, event_map


@pytest.fixture(autouse=True)
def _no_worker_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("CQRS_WORKER_"):
            monkeypatch.delenv(name)


def document(**settings: Any) -> dict[str, Any]:
    values = {"topics": ["orders", "payments"], **settings}
    return build_asyncapi(event_map(), load_settings(**values), title="shop", version="2.1.0")


def refs(node: object) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for value in node.values() for r in refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in refs(value)]
    return []


def resolve(doc: dict[str, Any], ref: str) -> Any:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def assert_refs_resolve(doc: dict[str, Any]) -> None:
    for ref in refs(doc):
        assert ref.startswith("#/"), ref
        resolve(doc, ref)  # KeyError names the broken reference


def test_a_kafka_document_is_valid_asyncapi_3_with_a_channel_per_topic() -> None:
    doc = document(kafka_bootstrap="k1:9092,k2:9092", group_id="shop")
    validate_asyncapi(doc)
    assert_refs_resolve(doc)
    assert doc["asyncapi"] == "3.0.0"
    assert doc["info"]["title"] == "shop"
    assert doc["info"]["version"] == "2.1.0"
    assert {c["address"] for c in doc["channels"].values()} == {"orders", "payments"}
    orders = doc["channels"]["kafka.orders"]
    # OrderPlaced names this topic; Refunded names none, so it may arrive anywhere.
    assert sorted(orders["messages"]) == ["OrderPlaced", "Refunded"]
    assert sorted(doc["channels"]["kafka.payments"]["messages"]) == ["OrderPaid", "Refunded"]
    assert orders["bindings"]["kafka"]["topic"] == "orders"
    operation = doc["operations"]["receive.kafka.orders"]
    assert operation["action"] == "receive"
    assert operation["channel"] == {"$ref": "#/channels/kafka.orders"}
    assert operation["bindings"]["kafka"]["groupId"]["enum"] == ["shop"]
    assert [s["host"] for s in doc["servers"].values()] == ["k1:9092", "k2:9092"]
    message = doc["components"]["messages"]["OrderPlaced"]
    assert message["name"] == "OrderPlaced"
    assert message["summary"] == "An order was placed."
    assert message["bindings"]["kafka"]["key"]["type"] == "string"  # the partition_key
    assert message["headers"]["properties"]["event_name"]["const"] == "OrderPlaced"


def test_without_a_broker_the_channels_are_kafka_topics_and_there_are_no_servers() -> None:
    doc = document()
    validate_asyncapi(doc)
    assert "servers" not in doc
    assert set(doc["channels"]) == {"kafka.orders", "kafka.payments"}
    assert "bindings" not in doc["operations"]["receive.kafka.orders"]  # no group to name


def test_rabbitmq_queues_are_channels_and_no_credential_leaves_the_settings() -> None:
    doc = document(
        rabbitmq_url="amqps://shop:s3cret-pw@rabbit.internal:5671/prod",
        kafka_bootstrap="k:9093",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-256",
        kafka_sasl_username="shop",
        kafka_sasl_password="kafka-pw",
        group_id="billing",
    )
    validate_asyncapi(doc)
    assert_refs_resolve(doc)
    text = json.dumps(doc)
    assert "s3cret-pw" not in text
    assert "kafka-pw" not in text
    queue = doc["channels"]["rabbitmq.billing.orders"]
    assert queue["address"] == "billing.orders"
    assert queue["bindings"]["amqp"]["queue"]["name"] == "billing.orders"
    assert sorted(queue["messages"]) == ["OrderPlaced", "Refunded"]
    assert doc["servers"]["rabbitmq"] == doc["servers"]["rabbitmq"] | {
        "host": "rabbit.internal:5671",
        "protocol": "amqps",
        "pathname": "/prod",
    }
    assert doc["servers"]["kafka"]["protocol"] == "kafka-secure"
    schemes = doc["components"]["securitySchemes"]
    assert schemes["kafka-sasl"]["type"] == "scramSha256"
    assert schemes["rabbitmq-user-password"]["type"] == "userPassword"


def test_rabbitmq_alone_has_no_kafka_channels_or_key_binding() -> None:
    doc = document(rabbitmq_url="amqp://guest:guest@localhost:5672/", queues=["all-events"])
    validate_asyncapi(doc)
    assert list(doc["channels"]) == ["rabbitmq.all-events"]
    assert "bindings" not in doc["components"]["messages"]["OrderPlaced"]


def message_validator(doc: dict[str, Any], name: str) -> jsonschema.Draft202012Validator:
    """A validator for the body of message ``name``, its refs resolved inside ``doc``."""
    resource = Resource.from_contents(doc, default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource("urn:doc", resource)
    payload = doc["components"]["messages"][name]["payload"]
    schema = {"$ref": "urn:doc" + payload["$ref"]}
    return jsonschema.Draft202012Validator(schema, registry=registry)


def test_the_message_schema_accepts_the_envelope_the_codec_writes_and_rejects_broken_ones() -> None:
    doc = document(kafka_bootstrap="k:9092", group_id="g")
    validator = message_validator(doc, "OrderPlaced")
    event = OrderPlaced(
        partition_key="customer-1", payload=Order(order_id="o-1", total=Money(amount=5))
    )
    body = orjson.loads(encode_event(event))
    assert set(body) == {
        "event_id",
        "event_name",
        "event_timestamp",
        "topic",
        "payload",
        "partition_key",
    }
    validator.validate(body)
    unkeyed = orjson.loads(encode_event(event.model_copy(update={"partition_key": None})))
    assert "partition_key" not in unkeyed  # left out when not set, as the schema allows
    validator.validate(unkeyed)
    for broken in (
        {k: v for k, v in body.items() if k != "event_id"},  # decoding never makes it up
        {k: v for k, v in body.items() if k != "event_timestamp"},
        body | {"event_name": "OrderPaid"},
        body | {"payload": {"order_id": "o-1"}},  # total missing
    ):
        assert not validator.is_valid(broken), broken
    schemas = doc["components"]["schemas"]
    assert {"Money", "Order", "OrderPlaced"} <= set(schemas)  # shared models once


def test_a_broken_document_fails_the_schema_so_the_check_can_fail() -> None:
    doc = document(kafka_bootstrap="k:9092", group_id="g")
    assert asyncapi_errors(doc) == []
    no_version = copy.deepcopy(doc)
    del no_version["info"]["version"]
    assert any("'version' is a required property" in e for e in asyncapi_errors(no_version))
    bad_action = copy.deepcopy(doc)
    bad_action["operations"]["receive.kafka.orders"]["action"] = "consume"
    assert asyncapi_errors(bad_action)
    bad_binding = copy.deepcopy(doc)
    bad_binding["channels"]["kafka.orders"]["bindings"]["kafka"]["partitions"] = 0
    assert asyncapi_errors(bad_binding)
    with pytest.raises(AssertionError, match=r"not a valid AsyncAPI 3\.0\.0 document"):
        validate_asyncapi(no_version)


def test_an_event_class_without_a_topic_and_no_topics_setting_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="declares no default topic"):
        build_asyncapi(event_map(), WorkerSettings(), title="t")
    with pytest.raises(ConfigurationError, match="binds no NotificationEvent"):
        build_asyncapi(EventMap(), WorkerSettings(), title="t")


@pytest.mark.parametrize(
    ("pattern", "key", "matches"),
    [
        ("orders", "orders", True),
        ("orders", "orders.eu", False),
        ("orders.*", "orders.eu", True),
        ("orders.*", "orders", False),
        ("orders.#", "orders", True),
        ("orders.#", "orders.eu.north", True),
        ("#", "anything.at.all", True),
        ("*.eu", "orders.eu", True),
    ],
)
def test_routing_key_patterns_match_as_a_topic_exchange_does(
    pattern: str, key: str, matches: bool
) -> None:
    assert routing_key_matches(pattern, key) is matches

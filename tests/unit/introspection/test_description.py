"""The describe model: handlers, policies, limits and destinations as the worker runs them,
and settings with every secret redacted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cqrs_worker.introspection import describe_worker, render_description
from cqrs_worker.introspection.description import qualified_name
from cqrs_worker.worker.app import Worker
from cqrs_worker.worker.settings import load_settings
from tests.unit.introspection.sample_app import Reserve, mediator

APP = "tests.unit.introspection.sample_app"
SECRETS = ("rabbit-s3cret", "kafka-s3cret", "key-s3cret", "rabbit-key-s3cret")


class Tracing:
    async def __call__(self, message: object, call_next: object) -> None:
        pass


@pytest.fixture(autouse=True)
def _no_worker_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("CQRS_WORKER_"):
            monkeypatch.delenv(name)


def test_events_map_to_their_handlers_with_their_own_policies_and_limits() -> None:
    worker = Worker(
        mediator(),
        load_settings(kafka_bootstrap="k:9092", group_id="g", topics=["orders", "payments"]),
        middlewares=[Tracing()],
    )
    description = describe_worker(worker, target=f"{APP}:mediator")

    events = {e.event_name: e for e in description.events}
    assert list(events) == ["OrderPaid", "OrderPlaced", "Refunded"]
    placed = events["OrderPlaced"]
    assert placed.event_class == f"{APP}.OrderPlaced"
    assert placed.topic == "orders"
    assert [h.name for h in placed.handlers] == [f"{APP}.Reserve", f"{APP}.Notify"]
    reserve, notify = placed.handlers
    assert reserve.retry_policy is not None
    assert (reserve.retry_policy.max_attempts, reserve.retry_policy.initial_delay) == (2, 1.0)
    assert reserve.retry_policy.permanent == ("KeyError",)
    assert notify.retry_policy is None  # the worker's
    assert (reserve.handler_timeout, reserve.timeout_from) == (2.5, "handler")
    assert placed.attempt_timeout == 4.0  # handlers run one after another in an attempt
    # A handler that sets no limit (None) makes the attempt unlimited.
    assert events["OrderPaid"].attempt_timeout is None
    refunded = events["Refunded"]
    assert refunded.topic is None
    assert refunded.event_class == "cqrs_worker.events.NotificationEvent[Money]"
    [audited] = description.in_process_events
    assert audited.event_class == f"{APP}.Audited"
    assert description.retry_policy.max_attempts == 5
    assert description.middlewares == (f"{__name__}.Tracing",)
    places = description.destinations
    assert places.kafka is not None
    assert places.kafka.dead_letter_topics == ("orders.dlq", "payments.dlq")
    assert places.rabbitmq is None


def test_the_worker_timeout_applies_to_handlers_without_their_own() -> None:
    worker = Worker(
        mediator(),
        load_settings(topics=["orders", "payments"], handler_timeout=3),
    )
    description = describe_worker(worker)
    events = {e.event_name: e for e in description.events}
    book = events["OrderPaid"].handlers[0]
    assert (book.handler_timeout, book.timeout_from) == (3, "worker")
    assert events["Refunded"].attempt_timeout == 3
    assert description.handler_timeout == 3


def test_rabbitmq_queues_are_named_as_the_source_names_them() -> None:
    worker = Worker(
        mediator(),
        load_settings(
            rabbitmq_url="amqp://app:rabbit-s3cret@rabbit:5672/shop",
            group_id="billing",
            topics=["orders", "payments"],
        ),
    )
    rabbit = describe_worker(worker).destinations.rabbitmq
    assert rabbit is not None
    assert rabbit.url == "amqp://app:***@rabbit:5672/shop"
    assert [(q.name, q.routing_keys, q.dead_letter_queue) for q in rabbit.queues] == [
        ("billing.orders", ("orders",), "billing.orders.dlq"),
        ("billing.payments", ("payments",), "billing.payments.dlq"),
    ]
    assert rabbit.dead_letter_exchange == "cqrs.events.dlx"


def test_no_secret_shows_in_text_or_json_and_each_setting_says_where_it_came_from(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key_password = tmp_path / "key-password"
    key_password.write_text("rabbit-key-s3cret\n")
    monkeypatch.setenv("CQRS_WORKER_RABBITMQ_URL", "amqps://app:rabbit-s3cret@rabbit:5671/")
    monkeypatch.setenv("CQRS_WORKER_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("CQRS_WORKER_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("CQRS_WORKER_KAFKA_SASL_USERNAME", "worker")
    monkeypatch.setenv("CQRS_WORKER_KAFKA_SASL_PASSWORD", "kafka-s3cret")
    monkeypatch.setenv("CQRS_WORKER_KAFKA_SSL_KEY_PASSWORD", "key-s3cret")
    monkeypatch.setenv("CQRS_WORKER_RABBITMQ_SSL_KEY_PASSWORD_FILE", str(key_password))
    worker = Worker(
        mediator(),
        load_settings(kafka_bootstrap="k:9093", group_id="g", topics=["orders"], concurrency=8),
    )
    description = describe_worker(worker, sources={"concurrency": "flag"})

    shown = render_description(description) + json.dumps(description.to_dict())
    for secret in SECRETS:
        assert secret not in shown
    settings = {s.name: s for s in description.settings}
    assert settings["rabbitmq_url"].value == "amqps://app:***@rabbit:5671/"
    assert settings["kafka_sasl_password"].value == "**********"
    assert settings["kafka_ssl_key_password"].value == "**********"
    assert settings["rabbitmq_ssl_key_password"].value == "**********"
    assert all(settings[n].secret for n in ("rabbitmq_url", "kafka_sasl_password"))
    assert settings["kafka_sasl_username"].value == "worker"
    assert settings["topics"].value == ["orders"]
    sources = {name: s.source for name, s in settings.items()}
    assert sources["rabbitmq_url"] == "environment"
    assert sources["rabbitmq_ssl_key_password"] == "file"
    assert sources["concurrency"] == "flag"
    assert sources["group_id"] == "code"
    assert sources["prefetch"] == "default"
    assert settings["kafka_bootstrap"].variable == "CQRS_WORKER_KAFKA_BOOTSTRAP"
    # The worker's own settings come first, then the security ones it inherits.
    assert description.settings[0].name == "kafka_bootstrap"


def test_a_password_in_any_url_valued_setting_is_redacted() -> None:
    worker = Worker(
        mediator(), load_settings(kafka_bootstrap="sasl://u:kafka-s3cret@k:9092", topics=["orders"])
    )
    description = describe_worker(worker)
    assert "kafka-s3cret" not in json.dumps(description.to_dict())
    assert "kafka-s3cret" not in render_description(description)


def test_qualified_names_of_classes_functions_and_instances() -> None:
    assert qualified_name(Reserve) == f"{APP}.Reserve"
    assert qualified_name(Reserve()) == f"{APP}.Reserve"
    assert qualified_name(test_qualified_names_of_classes_functions_and_instances).endswith(
        "test_description.test_qualified_names_of_classes_functions_and_instances"
    )
    assert qualified_name(KeyError) == "KeyError"

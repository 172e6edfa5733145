"""``WorkerSettings``: defaults, the environment, lists, and errors naming the variable."""

from __future__ import annotations

import pytest

from cqrs_worker.errors import ConfigurationError
from cqrs_worker.worker.settings import WorkerSettings, env_name, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("CQRS_WORKER_") or name in ("POD_NAME", "HOSTNAME"):
            monkeypatch.delenv(name)


def test_defaults() -> None:
    settings = WorkerSettings()

    assert settings.kafka_bootstrap is None
    assert settings.rabbitmq_url is None
    assert settings.topics == ()
    assert settings.rabbitmq_exchange == "cqrs.events"
    assert settings.rabbitmq_reconnect_interval == 5.0
    assert settings.concurrency == 64
    assert settings.batch_size == 1000
    assert settings.prefetch == 256
    assert settings.shutdown_timeout == 30
    assert settings.health_port == 8080
    assert settings.dlq_suffix == ".dlq"
    assert settings.on_unknown_event == "ack"
    assert settings.log_format == "text"
    assert settings.group_instance_id is None


def test_every_setting_reads_its_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CQRS_WORKER_KAFKA_BOOTSTRAP", "k1:9092,k2:9092")
    monkeypatch.setenv("CQRS_WORKER_GROUP_ID", "billing")
    monkeypatch.setenv("CQRS_WORKER_TOPICS", "orders, payments ,,")
    monkeypatch.setenv("CQRS_WORKER_CONCURRENCY", "8")
    monkeypatch.setenv("CQRS_WORKER_SHUTDOWN_TIMEOUT", "2.5")
    monkeypatch.setenv("CQRS_WORKER_LOG_LEVEL", "debug")
    monkeypatch.setenv("CQRS_WORKER_ON_UNKNOWN_EVENT", "dead-letter")
    monkeypatch.setenv("CQRS_WORKER_KAFKA_IDEMPOTENCE", "false")
    monkeypatch.setenv("CQRS_WORKER_RABBITMQ_RECONNECT_INTERVAL", "0.5")

    settings = WorkerSettings()

    assert settings.kafka_bootstrap == "k1:9092,k2:9092"
    assert settings.group_id == "billing"
    assert settings.topics == ("orders", "payments")
    assert settings.concurrency == 8
    assert settings.shutdown_timeout == 2.5
    assert settings.log_level == "DEBUG"
    assert settings.on_unknown_event == "dead-letter"
    assert settings.kafka_idempotence is False
    assert settings.rabbitmq_reconnect_interval == 0.5


def test_code_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CQRS_WORKER_CONCURRENCY", "8")

    assert WorkerSettings(concurrency=3).concurrency == 3


def test_lists_from_code_and_text() -> None:
    assert WorkerSettings(topics=("a", "b")).topics == ("a", "b")
    assert WorkerSettings(topics="a,b").topics == ("a", "b")  # type: ignore[arg-type]  # as a flag gives it


def test_blank_addresses_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CQRS_WORKER_KAFKA_BOOTSTRAP", "  ")

    assert WorkerSettings().kafka_bootstrap is None


def test_settings_are_frozen() -> None:
    settings = WorkerSettings()

    with pytest.raises(ValueError, match="frozen"):
        settings.concurrency = 2  # type: ignore[misc]  # the point of the test


def test_a_bad_value_names_its_variable_and_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CQRS_WORKER_CONCURRENCY", "0")

    with pytest.raises(ConfigurationError) as info:
        load_settings(log_format="xml")

    message = str(info.value)
    assert (
        "CQRS_WORKER_CONCURRENCY (--concurrency): Input should be greater than or equal to 1"
        in (message)
    )
    assert "got '0'" in message
    assert "CQRS_WORKER_LOG_FORMAT (--log-format)" in message


def test_an_unknown_setting_is_refused_by_name() -> None:
    with pytest.raises(ConfigurationError, match="'concurency' is not a worker setting"):
        load_settings(concurency=3)


def test_inconsistent_settings_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="retry_max_delay must be at least"):
        load_settings(retry_initial_delay=5, retry_max_delay=1)
    with pytest.raises(ConfigurationError, match="heartbeat_interval_ms must be below"):
        load_settings(session_timeout_ms=1000, heartbeat_interval_ms=1000)


def test_static_membership_uses_the_pod_name_only_when_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POD_NAME", "worker-0")
    monkeypatch.setenv("HOSTNAME", "host-a")

    assert WorkerSettings().group_instance_id is None
    assert WorkerSettings(static_membership=True).group_instance_id == "worker-0"
    assert WorkerSettings(instance_id="explicit").group_instance_id == "explicit"
    monkeypatch.delenv("POD_NAME")
    assert WorkerSettings(static_membership=True).group_instance_id == "host-a"


def test_env_name() -> None:
    assert env_name("group_id") == "CQRS_WORKER_GROUP_ID"

"""``CQRS_WORKER_<NAME>_FILE``: every secret setting can be read from a file."""

from __future__ import annotations

from pathlib import Path

import pytest

from cqrs_worker.errors import ConfigurationError
from cqrs_worker.security import KafkaSecuritySettings, secret_file_variables
from cqrs_worker.worker.settings import WorkerSettings, load_settings

SASL = {
    "CQRS_WORKER_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
    "CQRS_WORKER_KAFKA_SASL_MECHANISM": "PLAIN",
    "CQRS_WORKER_KAFKA_SASL_USERNAME": "svc",
}


def set_env(monkeypatch: pytest.MonkeyPatch, values: dict[str, str]) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def test_every_secret_of_the_worker_has_a_file_variable() -> None:
    assert set(secret_file_variables(WorkerSettings)) == {
        "CQRS_WORKER_RABBITMQ_URL_FILE",
        "CQRS_WORKER_KAFKA_SASL_PASSWORD_FILE",
        "CQRS_WORKER_KAFKA_SSL_KEY_PASSWORD_FILE",
        "CQRS_WORKER_RABBITMQ_SSL_KEY_PASSWORD_FILE",
    }


def test_the_file_content_without_its_trailing_newline_is_the_value(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "password").write_text("pa ss\n")
    (tmp_path / "url").write_text("amqps://app:pw@rabbit:5671/vhost\r\n")
    set_env(monkeypatch, SASL)
    monkeypatch.setenv("CQRS_WORKER_KAFKA_SASL_PASSWORD_FILE", str(tmp_path / "password"))
    monkeypatch.setenv("CQRS_WORKER_RABBITMQ_URL_FILE", str(tmp_path / "url"))
    settings = load_settings()
    assert settings.kafka_sasl_password is not None
    assert settings.kafka_sasl_password.get_secret_value() == "pa ss"
    assert settings.rabbitmq_url == "amqps://app:pw@rabbit:5671/vhost"


def test_the_publishers_settings_read_files_too(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "password").write_text("from-file")
    set_env(monkeypatch, SASL)
    monkeypatch.setenv("CQRS_WORKER_KAFKA_SASL_PASSWORD_FILE", str(tmp_path / "password"))
    password = KafkaSecuritySettings().kafka_sasl_password
    assert password is not None
    assert password.get_secret_value() == "from-file"


def test_a_value_in_code_wins_over_the_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "url").write_text("amqp://file@rabbit/")
    monkeypatch.setenv("CQRS_WORKER_RABBITMQ_URL_FILE", str(tmp_path / "url"))
    assert load_settings(rabbitmq_url="amqp://code@rabbit/").rabbitmq_url == "amqp://code@rabbit/"


def test_both_the_variable_and_its_file_is_a_one_line_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "password").write_text("one")
    set_env(monkeypatch, SASL)
    monkeypatch.setenv("CQRS_WORKER_KAFKA_SASL_PASSWORD", "two")
    monkeypatch.setenv("CQRS_WORKER_KAFKA_SASL_PASSWORD_FILE", str(tmp_path / "password"))
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    message = str(caught.value)
    assert message == (
        "both CQRS_WORKER_KAFKA_SASL_PASSWORD and CQRS_WORKER_KAFKA_SASL_PASSWORD_FILE are set; "
        "keep one of them"
    )


@pytest.mark.parametrize(
    ("content", "problem"), [(None, "cannot read"), ("\n", "the file .* is empty")]
)
def test_a_missing_or_empty_file_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content: str | None, problem: str
) -> None:
    path = tmp_path / "url"
    if content is not None:
        path.write_text(content)
    monkeypatch.setenv("CQRS_WORKER_RABBITMQ_URL_FILE", str(path))
    with pytest.raises(ConfigurationError, match=f"CQRS_WORKER_RABBITMQ_URL_FILE: {problem}"):
        load_settings()

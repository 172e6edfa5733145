"""``WorkerSettings`` checks: AMQP URLs, no size limit, one-line errors, no passwords."""

from __future__ import annotations

import os

import pytest

from cqrs_worker.errors import ConfigurationError
from cqrs_worker.worker.settings import WorkerSettings, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CQRS_WORKER_"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize(
    "url", ["notaurl", "http://guest:guest@rabbit:5672/", "amqp://", "rabbit:5672"]
)
def test_an_rabbitmq_url_must_be_amqp_with_a_host(url: str) -> None:
    with pytest.raises(ConfigurationError, match=r"CQRS_WORKER_RABBITMQ_URL \(--rabbitmq-url\): "):
        load_settings(rabbitmq_url=url)


@pytest.mark.parametrize("url", ["amqp://guest:guest@rabbit:5672/", "amqps://rabbit/vhost"])
def test_amqp_and_amqps_urls_pass(url: str) -> None:
    assert WorkerSettings(rabbitmq_url=url).rabbitmq_url == url


def test_the_error_hides_the_password() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(rabbitmq_url="http://guest:hunter2@rabbit/")

    assert "hunter2" not in str(caught.value)
    assert "http://guest:***@rabbit/" in str(caught.value)


@pytest.mark.parametrize("off", ["0", "none", "None", "off", "OFF", 0])
def test_max_message_bytes_turns_off(off: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CQRS_WORKER_MAX_MESSAGE_BYTES", str(off))

    assert WorkerSettings().max_message_bytes is None
    assert WorkerSettings(max_message_bytes=off).max_message_bytes is None


def test_max_message_bytes_still_takes_a_size() -> None:
    assert WorkerSettings(max_message_bytes=2048).max_message_bytes == 2048
    with pytest.raises(ConfigurationError, match="CQRS_WORKER_MAX_MESSAGE_BYTES"):
        load_settings(max_message_bytes=-1)


def test_several_errors_fit_on_one_line() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(concurrency=0, prefetch=0)

    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith("invalid worker settings: CQRS_WORKER_CONCURRENCY")

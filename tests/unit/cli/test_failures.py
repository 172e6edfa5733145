"""What a failed start-up prints: one line, the variable to fix, never a password."""

from __future__ import annotations

import pydantic
import pytest
import sqlalchemy as sa

from cqrs_worker.cli.failures import explain, one_line, redact
from cqrs_worker.errors import ConfigurationError, PublishError
from cqrs_worker.outbox.settings import RelaySettings


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "postgresql+asyncpg://ops:s3cr%40t@db:5432/app",
            "postgresql+asyncpg://ops:***@db:5432/app",
        ),
        ("at 'amqp://guest:guest@rabbit/' (x)", "at 'amqp://guest:***@rabbit/' (x)"),
        ("amqp://rabbit:5672/ and db://u@h/d", "amqp://rabbit:5672/ and db://u@h/d"),
        ("e.g. amqp://<user>:<password>@<host>/", "e.g. amqp://<user>:<password>@<host>/"),
    ],
)
def test_redact_hides_passwords_in_urls(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_one_line_joins_a_heading_and_its_items() -> None:
    assert (
        one_line("invalid settings:\n  A: bad\n  B: worse\n")
        == "invalid settings: A: bad; B: worse"
    )
    assert one_line("first\nsecond") == "first; second"


def test_relay_settings_errors_name_the_variable_and_the_flag() -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        RelaySettings(batch_size=-3)

    message = explain(caught.value, flags={"batch_size"})

    assert message == (
        "invalid RelaySettings: CQRS_WORKER_RELAY_BATCH_SIZE (--batch-size): "
        "Input should be greater than or equal to 1, got -3"
    )


def test_a_bad_database_url_is_a_configuration_error() -> None:
    with pytest.raises(sa.exc.ArgumentError) as caught:
        sa.engine.make_url("not a url")

    message = explain(caught.value)

    assert message is not None
    assert message.startswith("the database URL is not valid")


def test_a_configuration_error_is_one_line_without_its_password() -> None:
    error = ConfigurationError("cannot reach\n  amqp://app:hunter2@rabbit/")

    assert explain(error) == "cannot reach; amqp://app:***@rabbit/"


def test_anything_else_is_not_explained() -> None:
    assert explain(PublishError("broker down mid-run")) is None
    assert explain(ValueError("a bug")) is None

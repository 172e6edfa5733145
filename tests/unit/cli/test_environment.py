"""Unknown ``CQRS_WORKER_*`` variables: known names come from the settings classes themselves."""

from __future__ import annotations

import logging

import pytest

from cqrs_worker.cli.environment import (
    EXPLICIT_VARIABLES,
    known_variables,
    settings_classes,
    unknown_variables,
    warn_unknown_variables,
)
from cqrs_worker.cli.outbox_settings import OutboxAdminSettings
from cqrs_worker.inbox.settings import UnitOfWorkSettings
from cqrs_worker.outbox.settings import RelaySettings
from cqrs_worker.worker.settings import WorkerSettings


def test_every_settings_class_of_the_package_is_found() -> None:
    found = set(settings_classes())

    assert {WorkerSettings, RelaySettings, UnitOfWorkSettings, OutboxAdminSettings} <= found


@pytest.mark.parametrize(
    ("cls", "prefix"),
    [
        (WorkerSettings, "CQRS_WORKER_"),
        (RelaySettings, "CQRS_WORKER_RELAY_"),
        (UnitOfWorkSettings, "CQRS_WORKER_UNIT_OF_WORK_"),
        (OutboxAdminSettings, "CQRS_WORKER_OUTBOX_"),
    ],
)
def test_every_field_is_a_known_variable(cls: type[WorkerSettings], prefix: str) -> None:
    known = known_variables()

    assert {f"{prefix}{name.upper()}" for name in cls.model_fields} <= known


def test_variables_read_directly_are_known() -> None:
    assert set(EXPLICIT_VARIABLES) <= known_variables()


def test_a_misspelt_variable_gets_the_closest_known_name() -> None:
    environ = {
        "CQRS_WORKER_CONCURENCY": "3",
        "CQRS_WORKER_RELAY_BATCHSIZE": "10",
        "CQRS_WORKER_KAFKA_BOOTSTRAPS": "k:9092",
    }

    assert unknown_variables(environ) == [
        ("CQRS_WORKER_CONCURENCY", "CQRS_WORKER_CONCURRENCY"),
        ("CQRS_WORKER_KAFKA_BOOTSTRAPS", "CQRS_WORKER_KAFKA_BOOTSTRAP"),
        ("CQRS_WORKER_RELAY_BATCHSIZE", "CQRS_WORKER_RELAY_BATCH_SIZE"),
    ]


def test_known_names_file_variants_test_variables_and_other_prefixes_pass() -> None:
    environ = {
        "CQRS_WORKER_GROUP_ID": "g",
        "CQRS_WORKER_RELAY_BATCH_SIZE": "10",
        "CQRS_WORKER_OUTBOX_DSN_FILE": "/run/secrets/dsn",
        "CQRS_WORKER_RABBITMQ_URL_FILE": "/run/secrets/amqp",
        "CQRS_WORKER_TEST_KAFKA": "k:9092",
        "PATH": "/bin",
        "OTHER_CONCURENCY": "3",
    }

    assert unknown_variables(environ) == []


def test_a_file_variant_of_an_unknown_name_is_unknown() -> None:
    [(name, _)] = unknown_variables({"CQRS_WORKER_CONCURENCY_FILE": "x"})

    assert name == "CQRS_WORKER_CONCURENCY_FILE"


def test_one_warning_per_unknown_variable(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="cqrs_worker.cli.environment")

    warn_unknown_variables({"CQRS_WORKER_CONCURENCY": "3", "CQRS_WORKER_GROUP_ID": "g"})

    assert [r.getMessage() for r in caplog.records] == [
        "CQRS_WORKER_CONCURENCY is not a cqrs-worker setting and is ignored; "
        "did you mean CQRS_WORKER_CONCURRENCY?"
    ]
    assert caplog.records[0].levelname == "WARNING"

"""UnitOfWorkSettings: defaults, the environment, validation."""

from __future__ import annotations

import datetime

import pydantic
import pytest

from cqrs_worker.inbox import UnitOfWorkSettings


def test_defaults_are_a_unit_of_work_per_event_and_a_week_of_records() -> None:
    settings = UnitOfWorkSettings()
    assert settings.batch_size == 1
    assert settings.retention == datetime.timedelta(days=7)


def test_the_environment_configures_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CQRS_WORKER_UNIT_OF_WORK_BATCH_SIZE", "500")
    monkeypatch.setenv("CQRS_WORKER_UNIT_OF_WORK_RETENTION", "3600")
    settings = UnitOfWorkSettings()
    assert settings.batch_size == 500
    assert settings.retention == datetime.timedelta(hours=1)
    assert UnitOfWorkSettings(batch_size=2).batch_size == 2, "code wins over the environment"


def test_a_batch_size_below_one_is_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match="batch_size"):
        UnitOfWorkSettings(batch_size=0)

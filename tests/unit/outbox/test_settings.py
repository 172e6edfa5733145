from __future__ import annotations

import datetime

import pydantic
import pytest

from cqrs_worker.outbox import RelaySettings


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CQRS_WORKER_RELAY_BATCH_SIZE", "250")
    monkeypatch.setenv("CQRS_WORKER_RELAY_RETENTION", "3600")
    settings = RelaySettings()
    assert settings.batch_size == 250
    assert settings.retention == datetime.timedelta(hours=1)
    assert RelaySettings(batch_size=10).batch_size == 10  # code beats the environment


@pytest.mark.parametrize(
    "values",
    [
        {"batch_size": 0},
        {"max_attempts": 0},
        {"retry_delay": 5.0, "max_retry_delay": 1.0},
        {"idle_delay": 2.0, "max_idle_delay": 1.0},
        {"unknown": 1},
    ],
)
def test_bad_settings_are_refused(values: dict[str, object]) -> None:
    with pytest.raises(pydantic.ValidationError):
        RelaySettings(**values)  # type: ignore[arg-type]  # deliberately wrong values


def test_retry_delays_grow_and_stay_under_the_cap() -> None:
    settings = RelaySettings(retry_delay=1.0, max_retry_delay=8.0)
    for attempts, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (10, 8.0)]:
        delay = settings.retry_after(attempts)
        assert ceiling / 2 <= delay <= ceiling

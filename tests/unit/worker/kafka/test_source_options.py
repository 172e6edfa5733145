"""``KafkaSource`` validates its settings when it is built, before any connection."""

from __future__ import annotations

from typing import Any

import pytest

from cqrs_worker.errors import ConfigurationError
from cqrs_worker.worker.delivery import Delivery
from cqrs_worker.worker.kafka import KafkaSource
from cqrs_worker.worker.stats import WorkerStats


async def _pipeline(delivery: Delivery) -> None:
    return None


def _source(**overrides: Any) -> KafkaSource:
    settings: dict[str, Any] = {
        "bootstrap": "127.0.0.1:9",
        "group_id": "g",
        "topics": ["t"],
        "pipeline": _pipeline,
        "stats": WorkerStats(),
        **overrides,
    }
    return KafkaSource(**settings)


def test_a_source_is_built_without_connecting() -> None:
    source = _source(instance_id="pod-0")

    assert source.name == "kafka"
    assert not source.ready()


@pytest.mark.parametrize("option", ["ack_policy", "group_id", "listener", "enable_auto_commit"])
def test_options_the_source_owns_cannot_be_overridden(option: str) -> None:
    with pytest.raises(ConfigurationError, match=f"{option} are set by the worker itself"):
        _source(consumer_options={option: None})


def test_an_unknown_consumer_option_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="invalid Kafka consumer option"):
        _source(consumer_options={"no_such_option": 1})


def test_the_drain_timeout_must_stay_below_the_rebalance_timeout() -> None:
    with pytest.raises(ConfigurationError, match=r"drain_timeout \(5.0s\) must be below"):
        _source(drain_timeout=5.0, consumer_options={"session_timeout_ms": 4000})

    _source(drain_timeout=5.0, consumer_options={"rebalance_timeout_ms": 30_000})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"topics": []}, "at least one topic"),
        ({"group_id": ""}, "consumer group id"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_missing_settings_say_what_is_missing(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        _source(**overrides)


async def test_run_before_start_is_a_programming_error() -> None:
    with pytest.raises(RuntimeError, match="before start"):
        await _source().run()


async def test_stop_without_start_is_harmless() -> None:
    source = _source()

    await source.stop(0.1)
    await source.stop(0.1)

    assert not source.ready()

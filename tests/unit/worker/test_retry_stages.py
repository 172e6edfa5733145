"""Delayed retry stages: parsing ``RETRY_TOPICS``, stage labels, headers and the next stage."""

from __future__ import annotations

import datetime

import pytest

from cqrs_worker.errors import ConfigurationError
from cqrs_worker.worker.retry_stages import (
    ATTEMPTS,
    FIRST_FAILURE_AT,
    STAGE,
    RetryStage,
    StageState,
    delay_label,
    next_stage,
    parse_delay,
    parse_delays,
    stages_of,
)
from cqrs_worker.worker.settings import load_settings


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("5s", 5.0), (" 2m ", 120.0), ("1h", 3600.0), ("1.5s", 1.5), ("5S", 5.0)],
)
def test_a_delay_is_a_number_with_a_unit(text: str, seconds: float) -> None:
    assert parse_delay(text) == seconds


@pytest.mark.parametrize("text", ["5", "5x", "s", "-1s", "0s", "0.0001s", "5 s", "1d"])
def test_anything_else_is_refused_saying_how_to_write_it(text: str) -> None:
    with pytest.raises(ValueError, match="delay"):
        parse_delay(text)


@pytest.mark.parametrize(
    ("seconds", "label"),
    [(5.0, "5s"), (300.0, "5m"), (90.0, "90s"), (7200.0, "2h"), (1.5, "1500ms"), (0.25, "250ms")],
)
def test_a_stage_is_named_in_the_largest_whole_unit(seconds: float, label: str) -> None:
    assert delay_label(seconds) == label


def test_stages_are_numbered_from_one_in_the_given_order() -> None:
    assert stages_of(parse_delays("5s,30s,5m")) == (
        RetryStage(1, 5.0, "5s"),
        RetryStage(2, 30.0, "30s"),
        RetryStage(3, 300.0, "5m"),
    )
    assert parse_delays("") == ()
    assert parse_delays([1, "2s"]) == (1.0, 2.0)


def test_two_stages_with_one_name_are_refused() -> None:
    with pytest.raises(ValueError, match="5m is given twice"):
        parse_delays("5m,300s")


def test_the_setting_is_off_by_default_and_parsed_once() -> None:
    assert load_settings().retry_topics == ()
    assert load_settings(retry_topics="1s, 2s").retry_topics == (1.0, 2.0)


def test_a_bad_setting_names_the_variable_and_the_value() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(retry_topics="1s,soon")

    assert "CQRS_WORKER_RETRY_TOPICS (--retry-topics): 'soon' is not a delay" in str(caught.value)


STAGES = stages_of((1.0, 2.0))


def test_a_delivery_never_moved_goes_to_stage_one_then_two_then_the_dead_letters() -> None:
    assert next_stage(STAGES, 0, permanent=False) == STAGES[0]
    assert next_stage(STAGES, 1, permanent=False) == STAGES[1]
    assert next_stage(STAGES, 2, permanent=False) is None
    assert next_stage((), 0, permanent=False) is None


def test_a_permanent_failure_skips_the_stages() -> None:
    assert next_stage(STAGES, 0, permanent=True) is None


def test_the_stage_state_reads_the_headers_leniently() -> None:
    first = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    headers = {STAGE: "2", ATTEMPTS: "6", FIRST_FAILURE_AT: first.isoformat()}

    assert StageState.of(headers) == StageState(2, 6, first)
    assert StageState.of({}) == StageState()
    assert StageState.of({STAGE: "two", ATTEMPTS: "-3", FIRST_FAILURE_AT: "x"}) == StageState()

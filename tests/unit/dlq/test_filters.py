"""Which dead letters a command acts on."""

from __future__ import annotations

import datetime

import pytest

from cqrs_worker.dlq.filters import LetterFilter, parse_moment
from cqrs_worker.dlq.letter import DeadLetter
from cqrs_worker.errors import ConfigurationError

NOW = datetime.datetime(2026, 5, 1, 12, 0, tzinfo=datetime.UTC)


def letter(
    *,
    reason: str = "handler-failed",
    event_name: str = "Signup",
    exception: str = "app.errors.Broken",
    at: str | None = "2026-05-01T10:00:00+00:00",
) -> DeadLetter:
    headers = {"event_name": event_name, "x-dlq-reason": reason, "x-dlq-exception-type": exception}
    if at is not None:
        headers["x-dlq-last-failure-at"] = at
    return DeadLetter(body=b"{}", headers=headers, key=None, where="t.dlq[0]@0")


def test_an_empty_filter_matches_everything() -> None:
    assert LetterFilter().everything
    assert LetterFilter().matches(letter(at=None))


def test_reason_event_name_and_exception_type_must_all_match() -> None:
    f = LetterFilter(
        reasons=frozenset({"handler-failed"}),
        event_names=frozenset({"Signup"}),
        exception_types=frozenset({"app.errors.Broken"}),
    )
    assert f.matches(letter())
    assert not f.matches(letter(reason="invalid-payload"))
    assert not f.matches(letter(event_name="Other"))
    assert not f.matches(letter(exception="app.errors.Other"))


def test_an_exception_type_matches_by_its_class_name_too() -> None:
    assert LetterFilter(exception_types=frozenset({"Broken"})).matches(letter())
    assert not LetterFilter(exception_types=frozenset({"errors.Broken"})).matches(letter())


def test_time_range_includes_since_and_excludes_until() -> None:
    ten = datetime.datetime(2026, 5, 1, 10, 0, tzinfo=datetime.UTC)
    assert LetterFilter(since=ten).matches(letter())
    assert not LetterFilter(until=ten).matches(letter())
    assert LetterFilter(until=ten + datetime.timedelta(seconds=1)).matches(letter())
    assert not LetterFilter(since=ten).matches(letter(at=None)), "no time: outside any range"


def test_a_naive_failure_time_counts_as_utc() -> None:
    ten = datetime.datetime(2026, 5, 1, 10, 0, tzinfo=datetime.UTC)
    assert LetterFilter(since=ten).matches(letter(at="2026-05-01T10:00:00"))


def test_an_empty_time_range_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="time range is empty"):
        LetterFilter(since=NOW, until=NOW)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", NOW - datetime.timedelta(minutes=30)),
        ("2h", NOW - datetime.timedelta(hours=2)),
        ("7d", NOW - datetime.timedelta(days=7)),
        ("90s", NOW - datetime.timedelta(seconds=90)),
        ("2026-04-30T08:00:00Z", datetime.datetime(2026, 4, 30, 8, tzinfo=datetime.UTC)),
        ("2026-04-30T08:00:00", datetime.datetime(2026, 4, 30, 8, tzinfo=datetime.UTC)),
        (
            "2026-04-30T10:00:00+02:00",
            datetime.datetime(2026, 4, 30, 8, tzinfo=datetime.UTC),
        ),
    ],
)
def test_parse_moment(text: str, expected: datetime.datetime) -> None:
    assert parse_moment(text, now=NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "5w", "", "2026-13-01"])
def test_parse_moment_refuses_what_it_cannot_read(text: str) -> None:
    with pytest.raises(ConfigurationError, match="cannot read the time"):
        parse_moment(text, now=NOW)

"""Which dead letters a command acts on: :class:`LetterFilter` and :func:`parse_moment`."""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field

from cqrs_worker.dlq.letter import DeadLetter
from cqrs_worker.errors import ConfigurationError

__all__ = ["LetterFilter", "parse_moment"]

_RELATIVE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True, slots=True, kw_only=True)
class LetterFilter:
    """Dead letters matching every given criterion (an empty set matches anything).

    ``exception_types`` match the full ``module.Qualname`` of
    ``x-dlq-exception-type`` or its last part (``RuntimeError`` matches
    ``builtins.RuntimeError``). ``since``/``until`` bound when it was
    dead-lettered (``x-dlq-last-failure-at``), ``until`` excluded.
    """

    reasons: frozenset[str] = field(default_factory=frozenset)
    event_names: frozenset[str] = field(default_factory=frozenset)
    exception_types: frozenset[str] = field(default_factory=frozenset)
    since: datetime.datetime | None = None
    until: datetime.datetime | None = None

    def __post_init__(self) -> None:
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ConfigurationError(
                f"the time range is empty: --since {self.since.isoformat()} is not before "
                f"--until {self.until.isoformat()}"
            )

    @property
    def everything(self) -> bool:
        """Whether every dead letter matches."""
        return not (
            self.reasons or self.event_names or self.exception_types or self.since or self.until
        )

    def matches(self, letter: DeadLetter) -> bool:
        if self.reasons and letter.reason not in self.reasons:
            return False
        if self.event_names and letter.event_name not in self.event_names:
            return False
        if self.exception_types:
            full = letter.exception_type
            if full not in self.exception_types and full.rsplit(".", 1)[-1] not in (
                self.exception_types
            ):
                return False
        if self.since is not None or self.until is not None:
            at = letter.dead_lettered_at
            if at is None:
                return False
            if self.since is not None and at < self.since:
                return False
            if self.until is not None and at >= self.until:
                return False
        return True


def parse_moment(text: str, *, now: datetime.datetime | None = None) -> datetime.datetime:
    """An ISO 8601 time (UTC if it names no zone), or a duration ago (``30m``, ``2h``, ``7d``)."""
    now = now or datetime.datetime.now(datetime.UTC)
    value = text.strip()
    relative = _RELATIVE.fullmatch(value)
    if relative:
        seconds = float(relative.group(1)) * _UNITS[relative.group(2)]
        return now - datetime.timedelta(seconds=seconds)
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise ConfigurationError(
            f"cannot read the time {text!r}: give an ISO 8601 time (2026-05-01T12:00:00Z) "
            f"or a duration ago (90s, 30m, 2h, 7d)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)

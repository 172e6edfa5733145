"""Delayed retry stages: the delays, the ``x-retry-*`` headers, and which stage comes next.

``RETRY_TOPICS=1s,30s,5m`` gives three stages. A delivery whose in-place
attempts ran out moves to stage 1 (Kafka: the topic ``<topic>.retry.1s``;
RabbitMQ: the delay queue ``<queue>.retry.1s``), comes back after its delay,
gets the in-place attempts again, moves to stage 2, and so on; after the last
stage it is dead-lettered. Nothing here does I/O:
:class:`~cqrs_worker.worker.delayed_retry.DelayedRetrier` publishes.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = [
    "ATTEMPTS",
    "DUE_AT",
    "FIRST_FAILURE_AT",
    "PREFIX",
    "STAGE",
    "RetryStage",
    "StageState",
    "delay_label",
    "next_stage",
    "parse_delay",
    "parse_delays",
    "stages_of",
]

PREFIX = "x-retry-"
#: The stage (1-based) the message was moved to.
STAGE = f"{PREFIX}stage"
#: Handling attempts made so far, over every stage.
ATTEMPTS = f"{PREFIX}attempts"
#: When the first attempt failed (ISO 8601, UTC).
FIRST_FAILURE_AT = f"{PREFIX}first-failure-at"
#: When the message may be handled again (ISO 8601, UTC).
DUE_AT = f"{PREFIX}due-at"

#: More stages than this is a typo, not a retry plan.
MAX_STAGES = 20
_DELAY = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_HINT = "write delays like 500ms, 5s, 2m or 1h, comma-separated"


@dataclass(frozen=True, slots=True)
class RetryStage:
    """Stage ``number`` (1-based): wait ``delay`` seconds; ``label`` names its topic or queue."""

    number: int
    delay: float
    label: str


def parse_delay(text: str) -> float:
    """``"500ms"``, ``"5s"``, ``"2m"``, ``"1h"`` in seconds; or :class:`ValueError`
    saying how to write one."""
    match = _DELAY.match(text.strip().lower())
    if match is None:
        raise ValueError(f"{text.strip()!r} is not a delay; {_HINT}")
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if round(seconds * 1000) < 1:
        raise ValueError(f"{text.strip()!r} is not a delay; it must be at least 1ms")
    return seconds


def parse_delays(value: str | Iterable[str | float]) -> tuple[float, ...]:
    """The stage delays of a setting (``"1s,30s"`` or a sequence); checked once, at start-up."""
    parts = value.split(",") if isinstance(value, str) else list(value)
    delays: list[float] = []
    for part in parts:
        if isinstance(part, str):
            if not part.strip():
                continue
            delays.append(parse_delay(part))
        elif isinstance(part, (int, float)) and not isinstance(part, bool) and part >= 0.001:
            delays.append(float(part))
        else:
            raise ValueError(f"{part!r} is not a delay; {_HINT}")
    if len(delays) > MAX_STAGES:
        raise ValueError(f"{len(delays)} retry stages; at most {MAX_STAGES}")
    labels = [delay_label(d) for d in delays]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise ValueError(f"the delay {repeated[0]} is given twice; each stage needs its own")
    return tuple(delays)


def delay_label(seconds: float) -> str:
    """The delay in the largest whole unit: ``5s``, ``5m`` (for 300 s), ``1500ms``."""
    ms = round(seconds * 1000)
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def stages_of(delays: Iterable[float]) -> tuple[RetryStage, ...]:
    return tuple(RetryStage(n, d, delay_label(d)) for n, d in enumerate(delays, start=1))


@dataclass(frozen=True, slots=True)
class StageState:
    """What a delivery's ``x-retry-*`` headers say: its stage (0: never moved), the
    attempts made in earlier stages and when the first one failed."""

    stage: int = 0
    attempts: int = 0
    first_failure_at: datetime.datetime | None = None

    @classmethod
    def of(cls, headers: Mapping[str, str]) -> StageState:
        """Read leniently: a header that does not parse counts as absent."""
        first: datetime.datetime | None
        try:
            first = datetime.datetime.fromisoformat(headers[FIRST_FAILURE_AT])
        except (KeyError, ValueError):
            first = None
        return cls(_count(headers.get(STAGE)), _count(headers.get(ATTEMPTS)), first)


def _count(text: str | None) -> int:
    try:
        return max(0, int(text)) if text is not None else 0
    except ValueError:
        return 0


def next_stage(
    stages: tuple[RetryStage, ...], current: int, *, permanent: bool
) -> RetryStage | None:
    """The stage a delivery at stage ``current`` moves to, or ``None``: dead-letter it.

    A permanent failure skips the stages (waiting would not change it); past
    the last stage there is nowhere left to go.
    """
    if permanent or current >= len(stages):
        return None
    return stages[current]


def due_at(now: datetime.datetime, stage: RetryStage) -> datetime.datetime:
    return now + datetime.timedelta(seconds=stage.delay)

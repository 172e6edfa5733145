"""What the replayers share: :class:`ReplayOptions`, :class:`ReplayReport`, pacing and progress."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from cqrs_worker.dlq.filters import LetterFilter
from cqrs_worker.errors import ConfigurationError

__all__ = ["Pace", "Progress", "ReplayOptions", "ReplayReport"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplayOptions:
    """What to replay and how fast.

    ``count`` caps the dead letters replayed (``None``: all that match);
    ``rate`` caps the messages sent per second (``None``: as fast as the
    broker confirms); ``dry_run`` reads and counts but sends and removes nothing.
    """

    filter: LetterFilter = field(default_factory=LetterFilter)
    count: int | None = None
    rate: float | None = None
    dry_run: bool = False

    def __post_init__(self) -> None:
        if self.count is not None and self.count < 1:
            raise ConfigurationError(f"--count must be at least 1, not {self.count}")
        if self.rate is not None and not self.rate > 0:
            raise ConfigurationError(
                f"--rate must be a positive number of messages per second, not {self.rate}"
            )


@dataclass(slots=True)
class ReplayReport:
    """What a replay did: dead letters read, matched, replayed (or would have, dry)."""

    source: str
    dry_run: bool
    read: int = 0
    matched: int = 0
    replayed: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, why: str) -> None:
        self.skipped[why] = self.skipped.get(why, 0) + 1

    def render(self) -> str:
        verb = "would replay" if self.dry_run else "replayed"
        done = self.matched if self.dry_run else self.replayed
        text = f"{self.source}: read {self.read}, matched {self.matched}, {verb} {done}"
        if self.skipped:
            text += " (" + ", ".join(f"{why}: {n}" for why, n in self.skipped.items()) + ")"
        return text


class Pace:
    """Spaces calls of :meth:`wait` at least ``1 / rate`` seconds apart on average."""

    def __init__(
        self,
        rate: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._interval = 1.0 / rate if rate else 0.0
        self._clock = clock
        self._sleep = sleep
        self._next: float | None = None

    async def wait(self) -> None:
        if not self._interval:
            return
        now = self._clock()
        if self._next is None or self._next < now:
            self._next = now  # no credit for idle time: no burst after a pause
        delay = self._next - now
        self._next += self._interval
        if delay > 0:
            await self._sleep(delay)


class Progress:
    """Writes ``replayed N of M`` through ``write`` at most every ``every`` seconds."""

    def __init__(
        self,
        write: Callable[[str], object],
        *,
        every: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._write = write
        self._every = every
        self._clock = clock
        self._last = clock()

    def update(self, report: ReplayReport, total: int | None = None) -> None:
        now = self._clock()
        if now - self._last < self._every:
            return
        self._last = now
        of = f" of {total}" if total is not None else ""
        verb = "matched" if report.dry_run else "replayed"
        done = report.matched if report.dry_run else report.replayed
        self._write(f"{report.source}: read {report.read}{of}, {verb} {done}")

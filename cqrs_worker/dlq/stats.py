"""Counting dead letters: :class:`LetterStats` (by reason, event name, exception type; age)."""

from __future__ import annotations

import datetime
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from cqrs_worker.dlq.letter import DeadLetter

__all__ = ["LetterStats"]


@dataclass(slots=True)
class LetterStats:
    """Counts of the dead letters :meth:`add` saw, and the oldest and newest of them.

    ``source`` names what was read (``orders.dlq``); ``complete`` is false
    when only part of it was read (a RabbitMQ queue longer than the limit).
    """

    source: str
    total: int = 0
    by_reason: Counter[str] = field(default_factory=Counter)
    by_event_name: Counter[str] = field(default_factory=Counter)
    by_exception_type: Counter[str] = field(default_factory=Counter)
    oldest: datetime.datetime | None = None
    newest: datetime.datetime | None = None
    complete: bool = True
    in_source: int | None = None

    def add(self, letter: DeadLetter) -> None:
        self.total += 1
        self.by_reason[letter.reason] += 1
        self.by_event_name[letter.event_name] += 1
        self.by_exception_type[letter.exception_type] += 1
        at = letter.dead_lettered_at
        if at is not None:
            self.oldest = at if self.oldest is None else min(self.oldest, at)
            self.newest = at if self.newest is None else max(self.newest, at)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "total": self.total,
            "complete": self.complete,
            "in_source": self.in_source,
            "by_reason": dict(self.by_reason.most_common()),
            "by_event_name": dict(self.by_event_name.most_common()),
            "by_exception_type": dict(self.by_exception_type.most_common()),
            "oldest": self.oldest.isoformat() if self.oldest else None,
            "newest": self.newest.isoformat() if self.newest else None,
        }

    def render(self) -> str:
        """The text report."""
        head = f"{self.source}: {self.total} dead letter(s)"
        if not self.complete:
            of = f" of {self.in_source}" if self.in_source is not None else ""
            head += f" counted{of}: stopped at --limit, raise it to count all"
        lines = [head]
        if self.total:
            lines.append(f"oldest: {self.oldest.isoformat() if self.oldest else '-'}")
            lines.append(f"newest: {self.newest.isoformat() if self.newest else '-'}")
        for title, counts in (
            ("by reason", self.by_reason),
            ("by event name", self.by_event_name),
            ("by exception type", self.by_exception_type),
        ):
            if counts:
                lines.append(f"{title}:")
                lines.extend(f"  {count:>8}  {name}" for name, count in counts.most_common())
        return "\n".join(lines)

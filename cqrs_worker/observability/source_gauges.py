"""What a source reports about itself at scrape time: :class:`SourceGauges`."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["SourceGauges"]


@dataclass(slots=True, kw_only=True)
class SourceGauges:
    """A source's gauges, read when ``/metrics`` is scraped (a source may define
    ``gauges() -> SourceGauges``; the collector asks every source that does).

    ``lag`` and ``commit_age`` are keyed by ``(topic, partition)``: the end
    offset minus the committed position, and seconds since the last commit
    (since the assignment when nothing was committed yet). ``unacked`` is
    keyed by RabbitMQ queue.
    """

    queued: int = 0
    lag: dict[tuple[str, int], int] = field(default_factory=dict)
    commit_age: dict[tuple[str, int], float] = field(default_factory=dict)
    unacked: dict[str, int] = field(default_factory=dict)

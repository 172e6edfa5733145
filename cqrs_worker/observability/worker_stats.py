"""What the worker counts per message: :class:`WorkerStats`.

Everything here is a plain integer or dict increment, cheap enough for the
per-message path; the Prometheus families are built from it only at scrape
time (:mod:`cqrs_worker.observability.worker_collector`). Counters are keyed
by ``destination`` (the Kafka topic or RabbitMQ queue) and the event name;
never by event id or key, so their number stays bounded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from cqrs_worker.observability.durations import Durations
from cqrs_worker.observability.in_flight import InFlight

if TYPE_CHECKING:
    from cqrs_worker.worker.delivery import Delivery

__all__ = ["Outcome", "WorkerStats"]

Outcome = Literal["handled", "dead_lettered", "unknown", "duplicate", "delayed"]
LabelKey = tuple[str, str, str]

#: Distinct event names of messages nobody here handles that get their own
#: label; past that, they are counted as ``other`` (a topic full of garbage
#: must not grow the series without bound).
_MAX_FOREIGN_NAMES = 100
_OTHER = "other"
_TOTALS = ("received", "handled", "retried", "dead_lettered", "unknown", "duplicates", "moved")


class WorkerStats:
    """Counters since start-up, the handler durations and the attempts running now.

    The totals (``received``, ``handled``, ...) are what the worker logs
    when it stops; the labelled dicts are what ``/metrics`` shows. Each
    delivery ends with exactly one outcome: ``handled`` (handlers ran and
    succeeded), ``dead_lettered``, ``unknown`` (an event name nobody here
    handles, acknowledged), ``duplicate`` (the inbox had it already) or
    ``delayed`` (moved to a delayed retry stage, ``RETRY_TOPICS``).
    """

    __slots__ = (
        "_foreign",
        "dead_letters",
        "delays",
        "durations",
        "in_flight",
        "outcomes",
        "rebalances",
        "received",
        "received_by",
        "redelivered",
        "retried",
        "retries",
    )

    def __init__(self) -> None:
        self.received = 0
        """Messages the sources received and handed to the pipeline."""
        self.retried = 0
        """Failed attempts that were tried again."""
        self.rebalances = 0
        """Kafka consumer-group assignments received (the first join included)."""
        self.received_by: dict[str, int] = {}
        self.outcomes: dict[LabelKey, int] = {}
        self.dead_letters: dict[LabelKey, int] = {}
        self.retries: dict[LabelKey, int] = {}
        self.delays: dict[LabelKey, int] = {}
        self.redelivered: dict[str, int] = {}
        self.durations = Durations()
        self.in_flight = InFlight()
        self._foreign: set[str] = set()

    def add_received(self, destination: str, count: int) -> None:
        """``count`` messages of ``destination`` entered the pipeline."""
        self.received += count
        by = self.received_by
        by[destination] = by.get(destination, 0) + count

    def finished(self, delivery: Delivery, outcome: Outcome) -> None:
        """A delivery's pipeline returned: it may be acknowledged."""
        event = delivery.event
        name = event.event_name if event is not None else self.event_name(delivery)
        key = (delivery.destination, name, outcome)
        outcomes = self.outcomes
        outcomes[key] = outcomes.get(key, 0) + 1

    @property
    def handled(self) -> int:
        """Deliveries whose handlers succeeded (not dead-lettered, unknown or duplicates)."""
        return self._total("handled")

    @property
    def dead_lettered(self) -> int:
        """Malformed or given-up deliveries sent to the dead-letter destination."""
        return self._total("dead_lettered")

    @property
    def unknown(self) -> int:
        """Event names nobody here handles, acknowledged (``on_unknown_event="ack"``)."""
        return self._total("unknown")

    @property
    def duplicates(self) -> int:
        """Deliveries the inbox recognised as already handled."""
        return self._total("duplicate")

    @property
    def moved(self) -> int:
        """Deliveries moved to a delayed retry stage (they come back later)."""
        return self._total("delayed")

    def _total(self, outcome: Outcome) -> int:
        # Summed when read (logs, tests): the per-message path only bumps one dict entry.
        return sum(count for key, count in list(self.outcomes.items()) if key[2] == outcome)

    def dead_letter(self, delivery: Delivery, reason: str) -> None:
        """``delivery`` was dead-lettered for ``reason`` (the ``x-dlq-reason`` header)."""
        key = (delivery.destination, self.event_name(delivery), reason)
        self.dead_letters[key] = self.dead_letters.get(key, 0) + 1

    def retry(self, delivery: Delivery, reason: Literal["error", "timeout"]) -> None:
        """A failed attempt of ``delivery`` will be tried again."""
        self.retried += 1
        key = (delivery.destination, self.event_name(delivery), reason)
        self.retries[key] = self.retries.get(key, 0) + 1

    def delayed(self, delivery: Delivery, stage: int) -> None:
        """``delivery`` was moved to delayed retry stage ``stage`` (1-based)."""
        key = (delivery.destination, self.event_name(delivery), str(stage))
        self.delays[key] = self.delays.get(key, 0) + 1

    def add_redelivered(self, queue: str) -> None:
        """RabbitMQ flagged a delivery of ``queue`` as delivered before."""
        self.redelivered[queue] = self.redelivered.get(queue, 0) + 1

    def event_name(self, delivery: Delivery) -> str:
        """The label for ``delivery``'s event: the decoded event's name, else the one it carries.

        Names of events nobody here decoded are capped (then ``other``); an
        empty string means the message named no event at all.
        """
        event = delivery.event
        if event is not None:
            return event.event_name
        name = delivery.event_name or ""
        foreign = self._foreign
        if name in foreign:
            return name
        if len(foreign) >= _MAX_FOREIGN_NAMES:
            return _OTHER
        foreign.add(name)
        return name

    def snapshot(self) -> dict[str, int]:
        """The totals, for the log line the worker writes when it stops."""
        return {name: getattr(self, name) for name in _TOTALS}

    def __repr__(self) -> str:
        totals = ", ".join(f"{name}={value}" for name, value in self.snapshot().items())
        return f"<WorkerStats {totals}>"

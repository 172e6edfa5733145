"""The worker's Prometheus families, built at scrape time: :class:`WorkerCollector`.

The only module of the worker that imports ``prometheus_client``. Every
family has HELP; counters end in ``_total`` and durations in ``_seconds``.
Nothing here runs on the per-message path: :meth:`WorkerCollector.collect`
reads the plain counters of
:class:`~cqrs_worker.observability.worker_stats.WorkerStats`, the attempts in
flight and what each source reports (``gauges()``), when ``/metrics`` is
scraped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import (
    CollectorRegistry,
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from cqrs_worker.observability.source_gauges import SourceGauges
from cqrs_worker.observability.worker_stats import WorkerStats

__all__ = ["WorkerCollector", "exposition", "worker_registry"]

logger = logging.getLogger(__name__)

_P = "cqrs_worker_"
_LABELLED = ("destination", "event_name")


class WorkerCollector(Collector):
    """Yields the ``cqrs_worker_*`` families from ``stats`` and the sources ``sources()`` returns.

    A source takes part in the readiness family through its ``name`` and
    ``ready()``, and in the queue, lag and acknowledgement families when it
    has a ``gauges()`` returning a
    :class:`~cqrs_worker.observability.source_gauges.SourceGauges`.
    """

    def __init__(self, stats: WorkerStats, sources: Callable[[], Sequence[Any]]) -> None:
        self._stats = stats
        self._sources = sources

    def collect(self) -> Iterator[Metric]:
        stats = self._stats
        sources = list(self._sources())
        gauges = _gauges(sources)
        yield from self._messages(stats)
        yield from self._attempts(stats, gauges)
        yield from _kafka(stats, gauges)
        yield from _rabbitmq(stats, gauges)
        ready = GaugeMetricFamily(
            f"{_P}ready", "1 when the source is connected and consuming, else 0", labels=["source"]
        )
        for source in sources:
            ready.add_metric([source.name], 1.0 if source.ready() else 0.0)
        yield ready

    def _messages(self, stats: WorkerStats) -> Iterator[Metric]:
        received = CounterMetricFamily(
            f"{_P}messages_received_total",
            "Messages received from a topic or queue and handed to the pipeline",
            labels=["destination"],
        )
        for destination, count in list(stats.received_by.items()):
            received.add_metric([destination], count)
        yield received
        yield _labelled(
            "messages_total",
            "Deliveries finished, by outcome: handled, dead_lettered, unknown (nobody here "
            "handles the event; acknowledged), duplicate (the inbox had it already) or delayed "
            "(moved to a delayed retry stage)",
            "outcome",
            stats.outcomes,
        )
        yield _labelled(
            "dead_letters_total",
            "Deliveries sent to the dead-letter destination, by reason (the x-dlq-reason header)",
            "reason",
            stats.dead_letters,
        )
        yield _labelled(
            "retries_total",
            "Failed handling attempts that are tried again, by reason: error or timeout",
            "reason",
            stats.retries,
        )
        yield _labelled(
            "delayed_retries_total",
            "Deliveries moved to a delayed retry stage (RETRY_TOPICS) after their in-place "
            "attempts, by stage number (1 = the first delay)",
            "stage",
            stats.delays,
        )

    def _attempts(self, stats: WorkerStats, gauges: list[SourceGauges]) -> Iterator[Metric]:
        durations = HistogramMetricFamily(
            f"{_P}handler_duration_seconds",
            "Duration of the handlers of one attempt (every handler bound to the event; inside "
            "middlewares such as the unit of work)",
            labels=["event_name"],
        )
        for name, buckets, total in stats.durations.snapshot():
            durations.add_metric([name], buckets, total)
        yield durations
        in_flight = stats.in_flight
        yield GaugeMetricFamily(
            f"{_P}in_flight", "Handling attempts whose handlers run now", value=len(in_flight)
        )
        yield GaugeMetricFamily(
            f"{_P}queued",
            "Deliveries received and waiting in their lanes (behind an earlier one of their key, "
            "or for a free slot)",
            value=sum(g.queued for g in gauges),
        )
        oldest = in_flight.oldest()
        yield GaugeMetricFamily(
            f"{_P}oldest_in_flight_seconds",
            "Age of the longest-running handling attempt (0 when none runs)",
            value=oldest[1] if oldest is not None else 0.0,
        )


def _labelled(name: str, documentation: str, last: str, counts: dict[Any, int]) -> Metric:
    family = CounterMetricFamily(f"{_P}{name}", documentation, labels=[*_LABELLED, last])
    for labels, count in list(counts.items()):
        family.add_metric(list(labels), count)
    return family


def _kafka(stats: WorkerStats, gauges: list[SourceGauges]) -> Iterator[Metric]:
    lag = GaugeMetricFamily(
        f"{_P}consumer_lag",
        "Messages of an assigned partition not yet committed: end offset (the high watermark of "
        "the last fetch) minus the committed position",
        labels=["topic", "partition"],
    )
    age = GaugeMetricFamily(
        f"{_P}commit_age_seconds",
        "Seconds since this worker last committed an assigned partition (since the assignment "
        "when it has not yet); grows on an idle partition too, so read it together with lag",
        labels=["topic", "partition"],
    )
    for source in gauges:
        for (topic, partition), value in source.lag.items():
            lag.add_metric([topic, str(partition)], value)
        for (topic, partition), seconds in source.commit_age.items():
            age.add_metric([topic, str(partition)], seconds)
    yield lag
    yield age
    yield CounterMetricFamily(
        f"{_P}rebalances_total",
        "Partition assignments received from the Kafka consumer group (the first join included)",
        value=stats.rebalances,
    )


def _rabbitmq(stats: WorkerStats, gauges: list[SourceGauges]) -> Iterator[Metric]:
    unacked = GaugeMetricFamily(
        f"{_P}rabbitmq_unacked",
        "RabbitMQ deliveries received and not yet acknowledged",
        labels=["queue"],
    )
    for source in gauges:
        for queue, count in source.unacked.items():
            unacked.add_metric([queue], count)
    yield unacked
    redelivered = CounterMetricFamily(
        f"{_P}rabbitmq_redelivered_total",
        "RabbitMQ deliveries flagged as delivered before (to this or another consumer)",
        labels=["queue"],
    )
    for queue, count in list(stats.redelivered.items()):
        redelivered.add_metric([queue], count)
    yield redelivered


def _gauges(sources: Sequence[Any]) -> list[SourceGauges]:
    found = []
    for source in sources:
        read = getattr(source, "gauges", None)
        if read is None:
            continue
        try:
            found.append(read())
        except Exception:  # a scrape must not fail on one source's bad moment
            logger.debug("reading the gauges of source %s failed", source.name, exc_info=True)
    return found


def worker_registry(stats: WorkerStats, sources: Callable[[], Sequence[Any]]) -> CollectorRegistry:
    """A registry of its own holding the worker's families (not the global default one)."""
    registry = CollectorRegistry()
    registry.register(WorkerCollector(stats, sources))
    return registry


def exposition(registry: CollectorRegistry) -> tuple[bytes, str]:
    """The registry in the Prometheus text format, and the content type to serve it with."""
    return generate_latest(registry), CONTENT_TYPE_LATEST

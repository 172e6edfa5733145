"""The relay's metrics on prometheus-client: :class:`RelayMetrics`.

Families (each with HELP; the relay's own registry, so several relays in one
process never collide)::

    cqrs_worker_outbox_pending_rows                 gauge   rows waiting to be published
    cqrs_worker_outbox_oldest_pending_age_seconds   gauge   age of the oldest waiting row
    cqrs_worker_outbox_failed_rows                  gauge   rows in status failed
    cqrs_worker_outbox_published_total              counter rows published (committed)
    cqrs_worker_outbox_publish_failures_total       counter failed publish attempts, per row
    cqrs_worker_outbox_publish_duration_seconds     histogram one broker publish call
    cqrs_worker_outbox_claim_duration_seconds       histogram one claim (its statements)
    cqrs_worker_relay_ready{dependency}             gauge   1 up, 0 down (database, broker)

The three table gauges come from ``SELECT``s that :meth:`RelayMetrics.poll`
runs every few seconds under a timeout, never from the scrape: a scrape
costs no query and cannot hang when the database is away (it shows the last
values read, and ``relay_ready{dependency="database"}`` 0). The pending count
is the one ``cqrs-worker outbox status`` prints; the oldest age is measured
at scrape time from the oldest row's ``created_at``.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine

from cqrs_worker.observability.worker_collector import exposition
from cqrs_worker.outbox.readiness import DEPENDENCIES, RelayReadiness
from cqrs_worker.outbox.repository import OutboxStats, SqlAlchemyOutboxedEventRepository

__all__ = ["RelayMetrics"]

logger = logging.getLogger(__name__)

#: Claims and publishes take milliseconds to a publish timeout (tens of seconds).
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class RelayMetrics:
    """Counts what the relay does and reads the outbox table's state.

    It is the relay's :class:`~cqrs_worker.outbox.observer.RelayObserver`;
    :meth:`exposition` is the ``/metrics`` body.
    """

    def __init__(
        self, readiness: RelayReadiness, *, registry: CollectorRegistry | None = None
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.readiness = readiness
        self.stats: OutboxStats | None = None
        self._published = Counter(
            "cqrs_worker_outbox_published",
            "Outbox rows published (the broker confirmed them and they were marked published).",
            registry=self.registry,
        )
        self._failures = Counter(
            "cqrs_worker_outbox_publish_failures",
            "Failed publish attempts, one per row of a batch the broker did not confirm "
            "(or an unreadable row).",
            registry=self.registry,
        )
        self._publish_seconds = Histogram(
            "cqrs_worker_outbox_publish_duration_seconds",
            "Seconds one broker publish call of a batch took (confirmed or failed).",
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self._claim_seconds = Histogram(
            "cqrs_worker_outbox_claim_duration_seconds",
            "Seconds one claim of a batch took (its SELECT ... FOR UPDATE statements).",
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_TableCollector(self))

    # -- RelayObserver --------------------------------------------------------------

    def claimed(self, rows: int, seconds: float) -> None:
        self._claim_seconds.observe(seconds)

    def published(self, rows: int, seconds: float) -> None:
        self._published.inc(rows)
        self._publish_seconds.observe(seconds)

    def publish_failed(self, rows: int, seconds: float | None) -> None:
        self._failures.inc(rows)
        if seconds is not None:
            self._publish_seconds.observe(seconds)

    # -- the table --------------------------------------------------------------------

    async def refresh(
        self, engine: AsyncEngine, repository: SqlAlchemyOutboxedEventRepository, *, timeout: float
    ) -> bool:
        """Read the table's counts once; keeps the last ones (and says False) when it cannot."""
        try:
            async with asyncio.timeout(timeout), engine.connect() as conn:
                self.stats = await repository.stats(conn)
        except Exception as exc:  # the database is away: the relay's readiness says so
            logger.debug("reading the outbox counts failed: %r", exc)
            return False
        return True

    async def poll(
        self,
        engine: AsyncEngine,
        repository: SqlAlchemyOutboxedEventRepository,
        *,
        interval: float,
    ) -> None:
        """:meth:`refresh` every ``interval`` seconds until cancelled."""
        while True:
            await self.refresh(engine, repository, timeout=max(interval, 1.0))
            await asyncio.sleep(interval)  # the polling period, not a wait for a condition

    def exposition(self) -> tuple[bytes, str]:
        """The Prometheus text exposition of every family, and its content type."""
        return exposition(self.registry)


class _TableCollector(Collector):
    """The table gauges and readiness, built at each scrape from what was last read."""

    def __init__(self, metrics: RelayMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        stats = self._metrics.stats
        pending = GaugeMetricFamily(
            "cqrs_worker_outbox_pending_rows",
            "Outbox rows waiting to be published (status pending), as last read.",
        )
        oldest = GaugeMetricFamily(
            "cqrs_worker_outbox_oldest_pending_age_seconds",
            "Seconds since the oldest pending outbox row was written (0 when none waits).",
        )
        failed = GaugeMetricFamily(
            "cqrs_worker_outbox_failed_rows",
            "Outbox rows the relay gave up on (status failed; requeue them), as last read.",
        )
        if stats is not None:
            pending.add_metric([], stats.pending)
            failed.add_metric([], stats.failed)
            oldest.add_metric([], _age(stats.oldest_pending_at))
        ready = GaugeMetricFamily(
            "cqrs_worker_relay_ready",
            "1 when the relay reaches the dependency (database, broker), else 0.",
            labels=["dependency"],
        )
        readiness = self._metrics.readiness
        for dependency in DEPENDENCIES:
            up = readiness.is_up(dependency) and not readiness.is_stopping
            ready.add_metric([dependency], 1.0 if up else 0.0)
        yield from (pending, oldest, failed, ready)


def _age(at: datetime.datetime | None) -> float:
    if at is None:
        return 0.0
    if at.tzinfo is None:  # SQLite and MySQL give naive datetimes; the column stores UTC
        at = at.replace(tzinfo=datetime.UTC)
    return max(0.0, (datetime.datetime.now(datetime.UTC) - at).total_seconds())

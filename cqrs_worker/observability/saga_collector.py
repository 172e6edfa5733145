"""The saga families, built at scrape time from :class:`SagaStats`: :class:`SagaCollector`.

Register it on the worker's registry (``sagas.register_metrics(worker.registry)``)
so ``/metrics`` serves them next to the ``cqrs_worker_*`` worker families.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from cqrs_worker.observability.saga_stats import SagaStats

__all__ = ["SagaCollector"]

_STATUSES = ("running", "compensating", "completed", "compensated", "failed")


class SagaCollector(Collector):
    """``cqrs_worker_sagas{definition,status}`` and ``cqrs_worker_saga_step_duration_seconds``."""

    def __init__(self, stats: SagaStats) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        sagas = GaugeMetricFamily(
            "cqrs_worker_sagas",
            "Sagas in the saga table by definition and status (running, compensating, "
            "completed, compensated, failed), as of the last deadline check",
            labels=["definition", "status"],
        )
        counts = dict(self._stats.by_status)
        for definition in sorted({name for name, _ in counts}):
            for status in _STATUSES:
                sagas.add_metric([definition, status], float(counts.get((definition, status), 0)))
        yield sagas
        durations = HistogramMetricFamily(
            "cqrs_worker_saga_step_duration_seconds",
            "Time from a saga step's start to its end (a local command, or a remote request "
            "until its reply); compensations are labelled <step>:compensation",
            labels=["definition", "step"],
        )
        for definition, step, buckets, total in self._stats.step_durations():
            durations.add_metric([definition, step], buckets, total)
        yield durations

"""What a platform engineer sees of a running worker: counters, durations, attempts in flight.

The worker calls small hooks on the per-message path
(:class:`~cqrs_worker.observability.worker_stats.WorkerStats`: plain integer
and dict increments); the Prometheus families are built from them at scrape
time by :mod:`cqrs_worker.observability.worker_collector`, the one module here
that imports ``prometheus_client`` (imported when a worker runs, never by
``import cqrs_worker``).
"""

from __future__ import annotations

from cqrs_worker.observability.durations import Durations
from cqrs_worker.observability.in_flight import InFlight
from cqrs_worker.observability.source_gauges import SourceGauges
from cqrs_worker.observability.worker_stats import Outcome, WorkerStats

__all__ = ["Durations", "InFlight", "Outcome", "SourceGauges", "WorkerStats"]

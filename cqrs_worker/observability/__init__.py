"""What a running worker and relay show about themselves: metrics, log context and traces.

The worker (:mod:`cqrs_worker.worker`) and the relay (:mod:`cqrs_worker.outbox`)
use this package through small interfaces; nothing here changes what happens
to a message, and a failure in here never fails a delivery.

Metrics: the worker calls small hooks on the per-message path
(:class:`~cqrs_worker.observability.worker_stats.WorkerStats`: plain integer
and dict increments); the Prometheus families are built from them at scrape
time by :mod:`cqrs_worker.observability.worker_collector`, which (with the
relay's and the sagas' collectors) is where ``prometheus_client`` is imported:
when a worker or relay runs, never by ``import cqrs_worker``. Sagas count into
:class:`~cqrs_worker.observability.saga_stats.SagaStats`. Log context:
:mod:`~cqrs_worker.observability.logcontext`. Traces:
:mod:`~cqrs_worker.observability.tracing`, the one boundary to OpenTelemetry.
"""

from __future__ import annotations

from cqrs_worker.observability.durations import Durations
from cqrs_worker.observability.in_flight import InFlight
from cqrs_worker.observability.source_gauges import SourceGauges
from cqrs_worker.observability.worker_stats import Outcome, WorkerStats

__all__ = ["Durations", "InFlight", "Outcome", "SourceGauges", "WorkerStats"]

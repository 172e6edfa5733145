"""Counters the worker keeps; metrics and logs read them.

They live in :mod:`cqrs_worker.observability`; this name stays for the
worker's own modules and for code that imported it from here.
"""

from __future__ import annotations

from cqrs_worker.observability.worker_stats import WorkerStats

__all__ = ["WorkerStats"]

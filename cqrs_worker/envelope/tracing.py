"""Moved to :mod:`cqrs_worker.observability.tracing`; this name stays for old imports."""

from cqrs_worker.observability.tracing import trace_headers

__all__ = ["trace_headers"]

"""Trace context in message headers (W3C ``traceparent``/``tracestate``).

When ``opentelemetry-api`` is installed (``pip install 'cqrs-worker[otel]'``)
and a span is active where an event is published or written to the outbox,
its context travels in the event's headers, so a trace survives the outbox
and the broker. Without the package, or without an active span, no header is
added: tracing is optional and never an error.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

__all__ = ["trace_headers"]


@functools.cache
def _injector() -> Callable[[dict[str, str]], None] | None:
    try:
        from opentelemetry import propagate
    except ImportError:
        return None
    return propagate.inject


def trace_headers() -> dict[str, str]:
    """The current trace context as headers; empty when there is none."""
    inject = _injector()
    if inject is None:
        return {}
    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier

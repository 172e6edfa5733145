"""Traces: the W3C trace context in message headers, and the one place that imports OpenTelemetry.

``opentelemetry-api`` is optional (``pip install 'cqrs-worker[otel]'``). Without
it every function here degrades to "no tracing": no header is written, no span
is started, and nothing fails. This module is the boundary: the span modules
import OpenTelemetry at their top, and are imported only from here, once the
API was found and a provider is set.

* Publishing: :func:`trace_headers` puts the active context (``traceparent``,
  ``tracestate``, and baggage with the default propagators) in the headers of
  every event published or written to the outbox, so a trace survives both.
* Consuming: :func:`consumer_tracing` gives the worker's pipeline its CONSUMER
  span per delivery (:mod:`cqrs_worker.observability.consumer_spans`).
* Relaying: :func:`traced_broker` wraps the relay's broker so each published
  row gets a PRODUCER span continuing the trace stored in the row
  (:mod:`cqrs_worker.observability.producer_spans`).

Cost: spans are decided **once, when a worker or relay starts**: if the global
tracer provider is still the API's proxy (nobody called
``trace.set_tracer_provider``) or the no-op one, the pipeline and the broker are
returned unwrapped and a message costs nothing extra. A provider installed
after start-up is used from the next start; install it at import of your app
module or in its ``--factory`` function.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from cqrs_worker._version import __version__

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Tracer

    from cqrs_worker.brokers.protocol import MessageBroker
    from cqrs_worker.observability.batch_spans import BatchTracing
    from cqrs_worker.observability.consumer_spans import ConsumerTracing

__all__ = [
    "INSTRUMENTATION_NAME",
    "batch_tracing",
    "consumer_tracing",
    "extract_context",
    "inject_context",
    "trace_headers",
    "traced_broker",
    "tracer",
]

logger = logging.getLogger(__name__)

#: The instrumentation scope name of every span this package starts.
INSTRUMENTATION_NAME = "cqrs_worker"

_MISSING = "opentelemetry-api is not installed (pip install 'cqrs-worker[otel]')"


@functools.cache
def _injector() -> Callable[..., None] | None:
    # Imported on first use, not at import: opentelemetry.propagate reads
    # OTEL_PROPAGATORS and loads the propagators' entry points when imported.
    try:
        from opentelemetry import propagate
    except ImportError:
        logger.debug("no trace headers: %s", _MISSING)
        return None
    return propagate.inject


@functools.cache
def _extractor() -> Callable[..., Context] | None:
    try:
        from opentelemetry import propagate
    except ImportError:
        return None
    return propagate.extract


def trace_headers() -> dict[str, str]:
    """The current trace context as headers; empty when there is none."""
    inject = _injector()
    if inject is None:
        return {}
    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier


def extract_context(headers: Mapping[str, str]) -> Context | None:
    """The context the headers carry (a remote parent, baggage), with the global propagators.

    A missing or malformed ``traceparent`` gives a context without a parent
    (the span started in it is a root); ``None`` only without the API.
    """
    extract = _extractor()
    return None if extract is None else extract(headers)


def inject_context(headers: dict[str, str], context: Context) -> None:
    """Write ``context`` into ``headers`` with the global propagators (replacing what is there)."""
    inject = _injector()
    if inject is not None:
        inject(headers, context=context)


def tracer() -> Tracer | None:
    """A tracer of the configured provider, or ``None`` when spans would go nowhere.

    ``None`` when the API is missing, or the global provider is the proxy
    (none set yet: ``OTEL_PYTHON_TRACER_PROVIDER`` also sets one) or the no-op
    provider. Call it once per start, not per message.
    """
    try:
        from opentelemetry import trace
    except ImportError:
        logger.debug("no spans: %s", _MISSING)
        return None
    provider = trace.get_tracer_provider()
    if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
        return None
    return provider.get_tracer(INSTRUMENTATION_NAME, __version__)


def consumer_tracing(*, consumer_group: str | None = None) -> ConsumerTracing | None:
    """The worker's consumer spans, or ``None`` (nothing to wrap) when tracing is off."""
    found = tracer()
    if found is None:
        return None
    from cqrs_worker.observability.consumer_spans import ConsumerTracing

    return ConsumerTracing(found, consumer_group=consumer_group)


def batch_tracing(*, consumer_group: str | None = None) -> BatchTracing | None:
    """The spans of batch handlers' attempts, or ``None`` when tracing is off."""
    found = tracer()
    if found is None:
        return None
    from cqrs_worker.observability.batch_spans import BatchTracing

    return BatchTracing(found, consumer_group=consumer_group)


def traced_broker(broker: MessageBroker) -> MessageBroker:
    """``broker`` with a PRODUCER span per published message; ``broker`` itself when off."""
    found = tracer()
    if found is None:
        return broker
    from cqrs_worker.observability.producer_spans import TracingBroker

    return TracingBroker(broker, found)

"""The span of a batch handler's attempt: :class:`BatchTracing`.

A batch attempt (:mod:`cqrs_worker.worker.batches`) runs in one CONSUMER span
named ``process <destination>``, a root span that *links* to the trace context
of each message in the batch (the OpenTelemetry messaging conventions for
batch processing: a batch has many parents, so it has none, and a link per
message; past the SDK's link limit, 128 by default, the rest are dropped). It
carries ``messaging.batch.message_count``, the event name, and
``cqrs_worker.outcome`` (``handled``, ``failed`` or ``cancelled``); a failure
is recorded on it. The span is current while the handlers run, so the outbox
rows their events become carry it. An event a failing batch is narrowed down to
runs the per-message path and gets its own span there. A tracing failure is
logged and the batch goes on without a span.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, SpanKind, Status, StatusCode, Tracer

from cqrs_worker.observability._raw_messages import (
    DELIVERY_TAG,
    KAFKA_KEY,
    MESSAGE_ID,
    OFFSET,
    describe,
)
from cqrs_worker.observability.consumer_spans import (
    CONSUMER_GROUP,
    EVENT_NAME,
    OPERATION_NAME,
    OPERATION_TYPE,
    OUTCOME,
)
from cqrs_worker.observability.tracing import extract_context

__all__ = ["BATCH_COUNT", "BatchTracing"]

logger = logging.getLogger(__name__)

BATCH_COUNT = "messaging.batch.message_count"

Attempt = Callable[[list[Any]], Awaitable[None]]
_ONE_MESSAGES = (OFFSET, KAFKA_KEY, DELIVERY_TAG, MESSAGE_ID)


class BatchTracing:
    """Wraps a worker's batch attempts in spans (built once per start)."""

    def __init__(self, tracer: Tracer, *, consumer_group: str | None = None) -> None:
        self._tracer = tracer
        self._group = consumer_group

    def attempt(self, run: Attempt) -> Attempt:
        """``run`` (one attempt of a batch of deliveries) inside its span."""

        async def traced(deliveries: list[Any]) -> None:
            started = self._start(deliveries)
            if started is None:
                await run(deliveries)
                return
            span, token = started
            outcome = "cancelled"
            try:
                await run(deliveries)
                outcome = "handled"
            except Exception as exc:
                outcome = "failed"
                self._guard(_record_failure, span, exc)
                raise
            finally:
                self._end(span, token, outcome)

        return traced

    def _start(self, deliveries: Sequence[Any]) -> tuple[trace.Span, object] | None:
        try:
            links = []
            for delivery in deliveries:
                context = extract_context(describe(delivery.raw)[0])
                if context is not None:
                    span_context = trace.get_current_span(context).get_span_context()
                    if span_context.is_valid:
                        links.append(Link(span_context))
            _, attributes, destination = describe(deliveries[0].raw)
            for key in _ONE_MESSAGES:  # the first message's, not the batch's
                attributes.pop(key, None)
            attributes[OPERATION_TYPE] = attributes[OPERATION_NAME] = "process"
            attributes[BATCH_COUNT] = len(deliveries)
            attributes[EVENT_NAME] = deliveries[0].event.event_name
            if self._group is not None and attributes.get("messaging.system") == "kafka":
                attributes[CONSUMER_GROUP] = self._group
            span = self._tracer.start_span(
                f"process {destination}" if destination else "process",
                context=otel_context.Context(),  # a root: each message is a link
                kind=SpanKind.CONSUMER,
                attributes=attributes,
                links=links,
            )
            token = otel_context.attach(trace.set_span_in_context(span))
        except Exception as exc:
            self._failed("starting a batch span", exc)
            return None
        return span, token

    def _end(self, span: trace.Span, token: object, outcome: str) -> None:
        try:
            otel_context.detach(token)  # type: ignore[arg-type]  # the token attach() returned
            span.set_attribute(OUTCOME, outcome)
            span.end()
        except Exception as exc:
            self._failed("ending a batch span", exc)

    def _guard(
        self, step: Callable[[trace.Span, Exception], None], span: trace.Span, error: Exception
    ) -> None:
        try:
            step(span, error)
        except Exception as exc:
            self._failed("recording a failed batch", exc)

    def _failed(self, doing: str, error: Exception) -> None:
        logger.debug("tracing failed while %s; the batch goes on", doing, exc_info=error)


def _record_failure(span: trace.Span, error: Exception) -> None:
    span.record_exception(error)
    span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))

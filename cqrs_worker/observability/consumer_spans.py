"""The worker's CONSUMER span: one per delivery, around retries and dead-lettering.

:func:`~cqrs_worker.worker.pipeline.build_pipeline` wraps three of its parts
once, when tracing is on (:func:`cqrs_worker.observability.tracing.consumer_tracing`):

* the whole pipeline of a delivery runs in a span named ``process <destination>``
  (kind CONSUMER), whose parent is the context in the message's headers
  (``traceparent``/``tracestate``, with the global propagators), and which is
  the current span while the handlers run: commands they send and the outbox
  rows their events are written to carry it, so the relay continues the trace;
* each failed attempt adds an ``exception`` event (with its stack trace and
  ``cqrs_worker.attempt``) to that span. One span with an event per attempt,
  rather than a child span per attempt, keeps the common case at one span;
* dead-lettering sets the span's status to ERROR with ``error.type``.

At the end the span gets ``cqrs_worker.outcome`` (``handled``,
``dead_lettered``, ``unknown``, ``duplicate``, or ``cancelled`` when shutdown
or a revoke cut it off: the message will be redelivered), ``cqrs_worker.attempts``,
the event name and id. A tracing failure (a propagator or span processor that
raises) is logged and the delivery goes on without a span: it never fails it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from cqrs_worker.envelope.codec import EVENT_ID_HEADER, EVENT_NAME_HEADER
from cqrs_worker.errors import RetriesExhaustedError
from cqrs_worker.observability._raw_messages import MESSAGE_ID, describe
from cqrs_worker.observability.tracing import extract_context

__all__ = ["ConsumerTracing"]

logger = logging.getLogger(__name__)

CONSUMER_GROUP = "messaging.consumer.group.name"
OPERATION_TYPE = "messaging.operation.type"
OPERATION_NAME = "messaging.operation.name"
BODY_SIZE = "messaging.message.body.size"
ERROR_TYPE = "error.type"
EVENT_NAME = "cqrs_worker.event_name"
ATTEMPT = "cqrs_worker.attempt"
ATTEMPTS = "cqrs_worker.attempts"
OUTCOME = "cqrs_worker.outcome"


class TracedDelivery(Protocol):
    """What the spans read of a :class:`~cqrs_worker.worker.delivery.Delivery`."""

    @property
    def body(self) -> bytes: ...
    @property
    def raw(self) -> Any: ...
    @property
    def event(self) -> Any: ...
    @property
    def event_name(self) -> str | None: ...
    @property
    def attempts(self) -> int: ...
    @property
    def duplicate(self) -> bool: ...


D = TypeVar("D", bound=TracedDelivery)
R = TypeVar("R")
E = TypeVar("E", bound=Exception)


class ConsumerTracing:
    """Wraps the pipeline's parts of one worker source (built once per start)."""

    def __init__(self, tracer: Tracer, *, consumer_group: str | None = None) -> None:
        self._tracer = tracer
        self._group = consumer_group
        self._warned = False
        # ids of deliveries being dead-lettered, until their span ends (a
        # Delivery has slots and no weakref; this costs nothing when unused)
        self._dead_lettered_ids: set[int] = set()

    def pipeline(self, run: Callable[[D], Awaitable[None]]) -> Callable[[D], Awaitable[None]]:
        """``run`` inside a CONSUMER span, the span current while it runs."""
        start, end = self._start, self._end

        async def traced(delivery: D) -> None:
            started = start(delivery)
            if started is None:
                try:
                    await run(delivery)
                finally:
                    self._dead_lettered_ids.discard(id(delivery))
                return
            span, token = started
            try:
                await run(delivery)
            except BaseException:  # CancelledError: the only thing a pipeline raises
                end(span, token, delivery, cancelled=True)
                raise
            end(span, token, delivery, cancelled=False)

        return traced

    def attempt(self, run: Callable[[D], Awaitable[R]]) -> Callable[[D], Awaitable[R]]:
        """``run`` (one handling attempt), adding an event to the span when it fails."""
        failed = self._attempt_failed

        async def traced(delivery: D) -> R:
            try:
                return await run(delivery)
            except Exception as exc:
                failed(delivery, exc)
                raise

        return traced

    def dead_letter(
        self, run: Callable[[D, E], Awaitable[None]]
    ) -> Callable[[D, E], Awaitable[None]]:
        """``run`` (dead-lettering), marking the span as failed first."""
        marked = self._dead_lettered

        async def traced(delivery: D, error: E) -> None:
            marked(delivery, error)
            await run(delivery, error)

        return traced

    # -- the span work, each step guarded -----------------------------------

    def _start(self, delivery: TracedDelivery) -> tuple[trace.Span, object] | None:
        try:
            headers, attributes, destination = describe(delivery.raw)
            attributes[OPERATION_TYPE] = attributes[OPERATION_NAME] = "process"
            attributes[BODY_SIZE] = len(delivery.body)
            if self._group is not None and attributes.get("messaging.system") == "kafka":
                attributes[CONSUMER_GROUP] = self._group
            name = delivery.event_name or headers.get(EVENT_NAME_HEADER)
            if name:
                attributes[EVENT_NAME] = name
            event_id = headers.get(EVENT_ID_HEADER)
            if event_id:
                attributes[MESSAGE_ID] = event_id
            parent = extract_context(headers)
            span = self._tracer.start_span(
                f"process {destination}" if destination else "process",
                context=parent,
                kind=SpanKind.CONSUMER,
                attributes=attributes,
            )
            token = otel_context.attach(trace.set_span_in_context(span, parent))
        except Exception as exc:
            self._failed("starting a consumer span", exc)
            return None
        return span, token

    def _end(
        self, span: trace.Span, token: object, delivery: TracedDelivery, *, cancelled: bool
    ) -> None:
        try:
            otel_context.detach(token)  # type: ignore[arg-type]  # the token attach() returned
        except Exception as exc:
            self._failed("leaving a consumer span", exc)
        try:
            dead = id(delivery) in self._dead_lettered_ids
            self._dead_lettered_ids.discard(id(delivery))
            attributes: dict[str, str | int] = {
                ATTEMPTS: delivery.attempts,
                OUTCOME: _outcome(delivery, cancelled=cancelled, dead=dead),
            }
            event = delivery.event
            if event is not None:  # decoded: the body's name and id are the truth
                attributes[EVENT_NAME] = event.event_name
                attributes[MESSAGE_ID] = str(event.event_id)
            span.set_attributes(attributes)
            span.end()
        except Exception as exc:
            self._failed("ending a consumer span", exc)

    def _attempt_failed(self, delivery: TracedDelivery, error: Exception) -> None:
        try:
            trace.get_current_span().record_exception(error, {ATTEMPT: delivery.attempts})
        except Exception as exc:
            self._failed("recording a failed attempt", exc)

    def _dead_lettered(self, delivery: TracedDelivery, error: Exception) -> None:
        try:
            self._dead_lettered_ids.add(id(delivery))
            span = trace.get_current_span()
            cause = error.last if isinstance(error, RetriesExhaustedError) else error
            if delivery.attempts == 0:  # no attempt ran (malformed): record why here
                span.record_exception(error)
            span.set_attribute(ERROR_TYPE, _qualified(type(cause)))
            span.set_status(
                Status(StatusCode.ERROR, f"dead-lettered: {type(cause).__name__}: {cause}")
            )
        except Exception as exc:
            self._failed("marking a span dead-lettered", exc)

    def _failed(self, doing: str, error: Exception) -> None:
        # Once loud, then quiet: a broken exporter must not flood the log.
        log = logger.debug if self._warned else logger.warning
        self._warned = True
        log("tracing failed while %s; the delivery goes on", doing, exc_info=error)


def _outcome(delivery: TracedDelivery, *, cancelled: bool, dead: bool) -> str:
    if cancelled:
        return "cancelled"
    if delivery.duplicate:
        return "duplicate"
    if dead:
        return "dead_lettered"
    return "handled" if delivery.event is not None else "unknown"


def _qualified(kind: type[BaseException]) -> str:
    module = kind.__module__
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"

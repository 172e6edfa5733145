"""The delivery contract, stated once.

Every message a source receives becomes a
:class:`~cqrs_worker.worker.delivery.Delivery` and goes through one pipeline,
built by :func:`build_pipeline`::

    DeadLetter -> Decode -> Retry -> [unit of work / inbox] -> dispatch to the EventMediator

What happens to a message:

* **Success** — the pipeline returns; the source acknowledges it (RabbitMQ
  ack) or counts it finished (Kafka). A Kafka offset is committed only up to
  the lowest unfinished message of its partition, so a commit never passes
  work that is still running, waiting or failed.
* **Malformed** (any :class:`~cqrs_worker.errors.DecodeError`: too large, not
  JSON, not an envelope, invalid payload) — dead-lettered at once, never
  retried. An event name nobody registered is acknowledged and counted by
  default (``on_unknown_event="ack"``: topics are shared), or dead-lettered
  with ``on_unknown_event="dead-letter"``.
* **Handler error** — retried in place with exponential backoff and jitter
  (:class:`~cqrs_worker.worker.retry.RetryPolicy`; a handler class may carry
  its own ``retry_policy``); later messages of the same key wait, so per-key
  order holds. A :class:`~cqrs_worker.errors.PermanentError`, or an exception
  type the policy calls permanent, is not retried.
* **Exhausted or permanent** — dead-lettered with headers naming the origin
  (topic/partition/offset or queue), the exception type, message and
  (bounded) stacktrace, the attempts, the first and last failure times and
  the worker id; then acknowledged. If the dead-letter publish itself fails,
  it is retried with backoff and the message stays unacknowledged meanwhile:
  nothing is dropped.
* **Cancellation** (shutdown timeout, partition revoked) — never acknowledged
  or committed; the broker redelivers the message.
* **Duplicate** (the inbox of :class:`~cqrs_worker.inbox.UnitOfWork` already
  recorded the event) — acknowledged without running handlers; a middleware
  says so with ``delivery.duplicate = True`` and it is counted.

Tracing: with an OpenTelemetry tracer provider configured when the pipeline
is built, each delivery runs in a CONSUMER span continuing the trace in its
headers (:mod:`cqrs_worker.observability.consumer_spans`); without one, the
pipeline is exactly the one above.

A middleware may also define ``async after_dead_letter(delivery)``: it is
awaited once the dead-letter destination confirmed (the inbox records the
event as dead-lettered there, so a redelivery is not handled again).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Literal

from cqrs_worker.envelope import EnvelopeCodec
from cqrs_worker.errors import DecodeError, RetriesExhaustedError, UnknownEventError
from cqrs_worker.event_mediator import EventMediator
from cqrs_worker.middleware import Middleware, compose
from cqrs_worker.observability.logcontext import bind as bind_log_context
from cqrs_worker.observability.logcontext import unbind as unbind_log_context
from cqrs_worker.observability.tracing import consumer_tracing
from cqrs_worker.worker.dead_letter import DeadLetterer, DeadLetterSink
from cqrs_worker.worker.delivery import Delivery
from cqrs_worker.worker.retry import Retrier, RetryPolicy
from cqrs_worker.worker.stats import WorkerStats

__all__ = ["Pipeline", "UnknownEventPolicy", "build_pipeline"]

UnknownEventPolicy = Literal["ack", "dead-letter"]
Pipeline = Callable[[Delivery], Awaitable[None]]


def build_pipeline(
    *,
    mediator: EventMediator,
    codec: EnvelopeCodec,
    dead_letters: DeadLetterSink,
    retry: RetryPolicy,
    stats: WorkerStats,
    worker_id: str,
    on_unknown_event: UnknownEventPolicy = "ack",
    middlewares: Sequence[Middleware] = (),
    consumer_group: str | None = None,
) -> Pipeline:
    """Compose the pipeline of the contract above, once per worker.

    ``middlewares`` run inside the retry loop, around each attempt (the
    unit of work and the inbox go there). The returned callable finishes
    normally when the delivery may be acknowledged and raises only
    ``CancelledError``. ``consumer_group`` only labels trace spans.

    The stages are called directly rather than as middlewares: a message
    that succeeds costs one coroutine frame here, whatever the contract
    does on the rare paths.
    """
    send = mediator.send

    def dispatch(delivery: Delivery) -> Awaitable[None]:
        return send(delivery.event)  # type: ignore[arg-type]  # decoded first

    decode = codec.decode
    ack_unknown = on_unknown_event == "ack"
    attempt = compose(middlewares, dispatch)
    retrier = Retrier(retry, stats=stats)
    dead_letter: Callable[[Delivery, DecodeError | RetriesExhaustedError], Awaitable[None]]
    dead_letter = DeadLetterer(
        dead_letters,
        worker_id=worker_id,
        stats=stats,
        observers=[
            hook for m in middlewares if (hook := getattr(m, "after_dead_letter", None)) is not None
        ],
    )

    tracing = consumer_tracing(consumer_group=consumer_group)  # None: no provider, no spans
    if tracing is not None:
        attempt = tracing.attempt(attempt)
        dead_letter = tracing.dead_letter(dead_letter)

    async def pipeline(delivery: Delivery) -> None:
        # Log lines (ours and the handlers') name this delivery while it runs.
        token = bind_log_context(delivery, worker_id)
        try:
            try:
                delivery.event = decode(delivery.body, delivery.event_name)
            except UnknownEventError:
                if not ack_unknown:
                    raise
                stats.unknown += 1
            else:
                delivery.attempts += 1
                failed: Exception | None = None
                try:
                    await attempt(delivery)
                except Exception as exc:
                    failed = exc
                # Retried outside the except block: a retry's exception would
                # otherwise chain to the first one ("during handling of ..."),
                # and the logged traceback would show every attempt.
                if failed is not None:
                    await retrier.recover(delivery, failed, attempt)
        except (DecodeError, RetriesExhaustedError) as exc:
            await dead_letter(delivery, exc)
        finally:
            unbind_log_context(token)
        if delivery.duplicate:
            stats.duplicates += 1
        else:
            stats.handled += 1

    return pipeline if tracing is None else tracing.pipeline(pipeline)

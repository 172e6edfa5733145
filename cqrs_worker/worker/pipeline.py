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
  type the policy calls permanent, is not retried. **A delivery waiting
  between two attempts holds no concurrency slot**
  (:mod:`cqrs_worker.worker.backoff`): ``CONCURRENCY`` bounds the attempts
  running, so other keys are handled meanwhile whatever its value, and the
  delivery takes a slot back (ahead of new work) before its next attempt. So
  in an outage of what the handlers need, every key with work fails and
  retries at once, not ``CONCURRENCY`` of them: more deliveries use up their
  attempts together and are dead-lettered (or moved to a delayed stage).
* **Exhausted, with delayed retries** (opt-in, ``RETRY_TOPICS=1s,30s,5m``;
  :mod:`cqrs_worker.worker.retry_stages`) — a retryable failure whose
  in-place attempts ran out moves to the next delayed stage instead: Kafka
  publishes it to ``<topic>.retry.<delay>`` and consumes it from there once
  due (pausing only that retry partition meanwhile); RabbitMQ publishes it to
  the delay queue ``<queue>.retry.<delay>``, whose TTL dead-letters it back
  to the queue. Each stage gets the in-place attempts again. The original is
  acknowledged only after the stage confirmed the copy, which keeps the
  body (so the event id and the inbox) and carries ``x-retry-*`` headers.
  **The moved message leaves its key's order**: later messages of its key
  are handled while it waits. After the last stage it is dead-lettered,
  with the attempts of every stage and ``x-dlq-retry-stages``.
* **Exhausted or permanent** — dead-lettered with headers naming the origin
  (topic/partition/offset or queue), the exception type, message and
  (bounded) stacktrace, the attempts, the first and last failure times and
  the worker id; then acknowledged. If the dead-letter publish itself fails,
  it is retried with backoff and the message stays unacknowledged meanwhile:
  nothing is dropped.
* **Cancellation** (shutdown timeout, partition revoked) — never acknowledged
  or committed, also while it waits between attempts; the broker redelivers
  the message. A shutdown drains: a delivery waiting to be retried counts as
  unfinished work and is waited for within the timeout.
* **Duplicate** (the inbox of :class:`~cqrs_worker.inbox.UnitOfWork` already
  recorded the event) — acknowledged without running handlers; a middleware
  says so with ``delivery.duplicate = True`` and it is counted.

**Batch handlers** (a handler defines ``async handle_batch(self, events)``;
``BATCH_HANDLER_MAX``, default 500, 1 turns them off;
:mod:`cqrs_worker.worker.batches`) — the deliveries queued *now* in one lane
(one key, or one partition for keyless Kafka records) are taken together,
never waiting for more. Consecutive events of one type with a batch handler
are handled in one attempt (one unit-of-work transaction, one inbox
statement); everything else in the lane runs through the per-message path
above, in its place. The rules of the contract hold per message:

* a batch that succeeds acknowledges each of its deliveries, in lane order;
  each counts its own outcome (handled, or duplicate for the inbox);
* a failing batch is tried once more after the policy's first delay (holding
  no slot meanwhile; not when the failure is permanent), then split in halves,
  each tried once and split again, down to single deliveries, which take the
  per-message path (in-place retries, delayed stages, dead-letter) — so a
  poison event is dead-lettered alone, the events before it are handled
  exactly once, and those after it wait their turn; a half that fails rolls
  back all of its rows;
* cancellation acknowledges nothing of the unfinished part of a batch.

Handler durations are observed once per batch attempt (labelled with the
event name); with tracing on, a batch attempt is one CONSUMER span linking to
each message's trace (:mod:`cqrs_worker.observability.batch_spans`), and an
event narrowed down to alone gets its own span. ``HANDLER_TIMEOUT`` (or the
handlers' ``handler_timeout``) bounds a batch attempt as a whole; a batch
attempt that fails is not counted in the retries metric (only the per-message
attempts of the event it narrows down to are). Middlewares in the
worker must define ``around_batch(deliveries, call_next)`` when batch
handlers are bound (:class:`~cqrs_worker.inbox.UnitOfWork` does).

Tracing: with an OpenTelemetry tracer provider configured when the pipeline
is built, each delivery runs in a CONSUMER span continuing the trace in its
headers (:mod:`cqrs_worker.observability.consumer_spans`); without one, the
pipeline is exactly the one above.

A middleware may also define ``async after_dead_letter(delivery)``: it is
awaited once the dead-letter destination confirmed (the inbox records the
event as dead-lettered there, so a redelivery is not handled again).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Literal

from cqrs_worker.envelope import EnvelopeCodec
from cqrs_worker.errors import DecodeError, RetriesExhaustedError, UnknownEventError
from cqrs_worker.event_mediator import EventMediator
from cqrs_worker.middleware import Middleware, compose
from cqrs_worker.observability import Outcome
from cqrs_worker.observability.attempts import attempt_recorder, observe_attempts
from cqrs_worker.observability.logcontext import bind as bind_log_context
from cqrs_worker.observability.logcontext import unbind as unbind_log_context
from cqrs_worker.observability.tracing import batch_tracing, consumer_tracing
from cqrs_worker.worker.batches import BatchRunner, batch_attempt
from cqrs_worker.worker.dead_letter import DeadLetterer, DeadLetterSink
from cqrs_worker.worker.delayed_retry import DelayedRetrier
from cqrs_worker.worker.delivery import Delivery
from cqrs_worker.worker.retry import Retrier, RetryPolicy
from cqrs_worker.worker.stats import WorkerStats
from cqrs_worker.worker.timeout import HandlerTimeouts, limit_attempts

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
    handler_timeout: float | None = None,
    observe: bool = True,
    delayed: DelayedRetrier | None = None,
    batch_max: int = 1,
) -> Pipeline:
    """Compose the pipeline of the contract above, once per worker.

    ``middlewares`` run inside the retry loop, around each attempt (the
    unit of work and the inbox go there). The returned callable finishes
    normally when the delivery may be acknowledged and raises only
    ``CancelledError``. ``consumer_group`` only labels trace spans.

    ``handler_timeout`` bounds the handlers of each attempt
    (:mod:`cqrs_worker.worker.timeout`). Every delivery ends with one outcome
    counted in ``stats``; ``observe`` (on by default; off only to measure
    its cost) also times the handlers of each attempt and tracks them in
    flight.

    ``delayed`` (``RETRY_TOPICS``) takes a delivery whose retryable
    failure used up its in-place attempts to the next delayed retry stage
    instead of the dead-letter sink, until the stages run out.

    ``batch_max`` > 1 turns batch handlers on when a bound handler defines
    ``handle_batch``: the returned pipeline then has a ``batch`` attribute
    (a :class:`~cqrs_worker.worker.batches.BatchRunner`) the lanes use.
    Without such a handler the pipeline is the same as with ``batch_max=1``.

    The stages are called directly rather than as middlewares: a message
    that succeeds costs one coroutine frame here, whatever the contract
    does on the rare paths.
    """
    send = mediator.send

    def dispatch(delivery: Delivery) -> Awaitable[None]:
        return send(delivery.event)  # type: ignore[arg-type]  # decoded first

    decode = codec.decode
    ack_unknown = on_unknown_event == "ack"
    handlers: Callable[[Delivery], Awaitable[None]] = dispatch
    # Inside the middlewares: a unit of work waiting for its database is
    # neither timed out nor "stuck"; only the handlers are.
    if (timeouts := HandlerTimeouts(mediator.event_map, handler_timeout)).enabled:
        handlers = limit_attempts(handlers, timeouts)
    bare = handlers
    if observe:
        handlers = observe_attempts(handlers, stats)
    attempt = compose(middlewares, handlers)
    finished = stats.finished
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
    # The first attempt observed here rather than by a wrapper (one frame fewer for every
    # message) when nothing else wraps it; retries go through ``attempt`` as always.
    inline = observe and not middlewares and tracing is None
    running, clock, observed = stats.in_flight.running, time.perf_counter, attempt_recorder(stats)
    first = bare if inline else attempt

    async def pipeline(delivery: Delivery) -> None:
        outcome: Outcome = "handled"
        # Log lines (ours and the handlers') name this delivery while it runs.
        token = bind_log_context(delivery, worker_id)
        try:
            try:
                delivery.event = decode(delivery.body, delivery.event_name)
            except UnknownEventError as exc:
                delivery.event_name = delivery.event_name or exc.event_name
                if not ack_unknown:
                    raise
                outcome = "unknown"
            else:
                delivery.attempts += 1
                failed: Exception | None = None
                if inline:
                    running[delivery] = started = clock()
                    try:
                        await first(delivery)
                    except Exception as exc:
                        failed = exc
                    finally:
                        observed(delivery, started)
                else:
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
            if isinstance(exc, DecodeError):
                delivery.event_name = delivery.event_name or exc.event_name
            elif delayed is not None and await delayed.move(delivery, exc):
                outcome = "delayed"
            if outcome != "delayed":
                await dead_letter(delivery, exc)
                outcome = "dead_lettered"
        finally:
            unbind_log_context(token)
        finished(delivery, "duplicate" if delivery.duplicate else outcome)

    whole = pipeline if tracing is None else tracing.pipeline(pipeline)
    if batch_max > 1 and mediator.has_batch_handlers:
        attempt_batch = batch_attempt(middlewares, mediator, timeouts)
        if tracing is not None and (spans := batch_tracing(consumer_group=consumer_group)):
            attempt_batch = spans.attempt(attempt_batch)
        runner = BatchRunner(
            pipeline=whole,
            attempt=attempt_batch,
            mediator=mediator,
            codec=codec,
            retry=retry,
            stats=stats,
            worker_id=worker_id,
            max_size=batch_max,
            observe=observe,
        )
        # An attribute of the plain function: the per-message path gains no frame.
        setattr(whole, "batch", runner)  # noqa: B010 - a function attribute mypy cannot type
    return whole

"""What the runtime hands each transport: :class:`SourceContext` and :class:`SourceFactory`.

The :class:`~cqrs_worker.worker.app.Worker` builds one context and calls one
factory per transport (Kafka, RabbitMQ, memory). A transport builds its own
dead-letter sink (it may need the transport's own connection), asks the
context for the pipeline that dead-letters through it, and returns a
:class:`~cqrs_worker.worker.source.Source`::

    def kafka(context: SourceContext) -> Source:
        sink = KafkaDeadLetterSink(...)
        return KafkaSource(pipeline=context.pipeline(sink), settings=context.settings, ...)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from cqrs_worker.envelope import EnvelopeCodec
from cqrs_worker.event_mediator import EventMediator
from cqrs_worker.middleware import Middleware
from cqrs_worker.worker.dead_letter import DeadLetterSink
from cqrs_worker.worker.delayed_retry import DelayedRetrier, RetryStageSink
from cqrs_worker.worker.pipeline import Pipeline, build_pipeline
from cqrs_worker.worker.retry import RetryPolicy
from cqrs_worker.worker.retry_stages import RetryStage, stages_of
from cqrs_worker.worker.settings import WorkerSettings
from cqrs_worker.worker.source import Source
from cqrs_worker.worker.stats import WorkerStats

__all__ = ["SourceContext", "SourceFactory", "retry_policy"]


def retry_policy(settings: WorkerSettings) -> RetryPolicy:
    """The worker-wide :class:`RetryPolicy` the settings describe."""
    return RetryPolicy(
        max_attempts=settings.max_attempts,
        initial_delay=settings.retry_initial_delay,
        max_delay=settings.retry_max_delay,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceContext:
    """Everything a transport needs to build its source.

    ``topics`` are the Kafka topics to subscribe to (and RabbitMQ routing
    keys to bind), from the settings or else the EventMap's event classes.
    """

    settings: WorkerSettings
    stats: WorkerStats
    worker_id: str
    topics: tuple[str, ...]
    mediator: EventMediator
    codec: EnvelopeCodec
    middlewares: Sequence[Middleware] = field(default=())

    @property
    def retry_stages(self) -> tuple[RetryStage, ...]:
        """The delayed retry stages (``RETRY_TOPICS``); empty when they are off."""
        return stages_of(self.settings.retry_topics)

    def pipeline(
        self, dead_letters: DeadLetterSink, retry_stages: RetryStageSink | None = None
    ) -> Pipeline:
        """The delivery pipeline, dead-lettering through ``dead_letters``; with delayed
        retry stages configured, moving exhausted deliveries through ``retry_stages``."""
        stages = self.retry_stages
        delayed = None
        if stages and retry_stages is not None:
            delayed = DelayedRetrier(retry_stages, stages, stats=self.stats)
        return build_pipeline(
            delayed=delayed,
            mediator=self.mediator,
            codec=self.codec,
            dead_letters=dead_letters,
            retry=retry_policy(self.settings),
            stats=self.stats,
            worker_id=self.worker_id,
            on_unknown_event=self.settings.on_unknown_event,
            middlewares=self.middlewares,
            consumer_group=self.settings.group_id,
            handler_timeout=self.settings.handler_timeout,
        )


class SourceFactory(Protocol):
    """Builds one transport's source from the context (no I/O: :meth:`Source.start` connects)."""

    def __call__(self, context: SourceContext, /) -> Source: ...

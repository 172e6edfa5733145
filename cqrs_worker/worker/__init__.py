"""The worker runtime: consume Kafka and RabbitMQ, run the EventMap's handlers, at least once.

The delivery contract lives in :mod:`cqrs_worker.worker.pipeline`. Run a
:class:`Worker` with ``cqrs-worker run module:attr`` or ``await worker.run()``;
the Kafka and RabbitMQ sources (:mod:`cqrs_worker.worker.kafka`,
:mod:`cqrs_worker.worker.rabbitmq`) are imported only when configured.
"""

from cqrs_worker.worker.app import Worker
from cqrs_worker.worker.context import SourceContext, SourceFactory
from cqrs_worker.worker.dead_letter import DeadLetterSink
from cqrs_worker.worker.delivery import Delivery
from cqrs_worker.worker.memory import InMemoryDeadLetterSink, InMemorySource
from cqrs_worker.worker.retry import RetryPolicy
from cqrs_worker.worker.settings import WorkerSettings, load_settings
from cqrs_worker.worker.source import Source
from cqrs_worker.worker.stats import WorkerStats

__all__ = [
    "DeadLetterSink",
    "Delivery",
    "InMemoryDeadLetterSink",
    "InMemorySource",
    "RetryPolicy",
    "Source",
    "SourceContext",
    "SourceFactory",
    "Worker",
    "WorkerSettings",
    "WorkerStats",
    "load_settings",
]

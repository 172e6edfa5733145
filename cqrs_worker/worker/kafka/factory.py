"""The Kafka source the worker's settings describe: :func:`kafka_source`."""

from __future__ import annotations

from cqrs_worker.errors import ConfigurationError
from cqrs_worker.security import aiokafka_options, faststream_options
from cqrs_worker.worker.context import SourceContext
from cqrs_worker.worker.kafka.dead_letter import KafkaDeadLetterSink
from cqrs_worker.worker.kafka.retry_topics import KafkaRetrySink, retry_topics
from cqrs_worker.worker.kafka.source import KafkaSource

__all__ = ["kafka_source"]


def kafka_source(context: SourceContext) -> KafkaSource:
    """A :class:`KafkaSource` with its :class:`KafkaDeadLetterSink`, from ``context.settings``.

    The dead-letter topics are ``<topic><dlq_suffix>`` on the same cluster;
    ``kafka_idempotence`` turns the dead-letter producer's idempotence off for
    brokers that grant no producer ids. The consumer and the dead-letter
    producer share one security configuration (TLS context, SASL, token
    provider), read from the ``CQRS_WORKER_KAFKA_SECURITY_*``/``_SASL_*``/``_SSL_*``
    settings. With ``RETRY_TOPICS``, the source also consumes the retry topics
    ``<topic>.retry.<delay>``, and the pipeline moves exhausted deliveries
    there through the dead-letter producer.
    """
    settings = context.settings
    if settings.kafka_bootstrap is None or settings.group_id is None:
        raise ConfigurationError("Kafka needs CQRS_WORKER_KAFKA_BOOTSTRAP and CQRS_WORKER_GROUP_ID")
    security = aiokafka_options(settings)
    sink = KafkaDeadLetterSink(
        bootstrap=settings.kafka_bootstrap,
        suffix=settings.dlq_suffix,
        enable_idempotence=settings.kafka_idempotence,
        producer_options=security,
    )
    stages = context.retry_stages
    return KafkaSource(
        bootstrap=settings.kafka_bootstrap,
        group_id=settings.group_id,
        topics=context.topics,
        retry_topics=retry_topics(context.topics, stages),
        pipeline=context.pipeline(sink, KafkaRetrySink(sink) if stages else None),
        stats=context.stats,
        concurrency=settings.concurrency,
        batch_size=settings.batch_size,
        instance_id=settings.group_instance_id,
        dead_letters=sink,
        consumer_options={
            "session_timeout_ms": settings.session_timeout_ms,
            "heartbeat_interval_ms": settings.heartbeat_interval_ms,
            "max_poll_interval_ms": settings.max_poll_interval_ms,
        },
        broker_options=faststream_options(security),
    )

"""The RabbitMQ transport of the worker: :class:`RabbitSource` and :class:`RabbitDeadLetterSink`.

FastStream declares the durable queues (bound to the topic exchange), the
dead-letter exchange and a dead-letter queue per queue; we consume with
aio-pika, one channel per queue, with a prefetch window and batched
acknowledgements that never pass unfinished work.
"""

from cqrs_worker.worker.rabbitmq.dead_letter import RabbitDeadLetterSink
from cqrs_worker.worker.rabbitmq.queues import QueueSpec, queue_specs
from cqrs_worker.worker.rabbitmq.source import RabbitSource

__all__ = ["QueueSpec", "RabbitDeadLetterSink", "RabbitSource", "queue_specs"]

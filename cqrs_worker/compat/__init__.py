"""python-cqrs call shapes, translated to our API (README: "Moving over from python-cqrs").

Code written for python-cqrs runs with ``import cqrs`` renamed to
``import cqrs_worker as cqrs``. What it calls differently from our API lands
here, and each adapter only translates arguments to our classes; it holds no
logic of its own:

* ``EventEmitter(event_map, container, message_broker)`` builds
  ``EventMediator(event_map, container, emitter=BrokerEventEmitter(broker))``;
* ``RequestMediator(request_map, container, event_emitter=)`` builds
  ``RequestMediator(request_map, container, event_mediator=)``;
* requests ``bootstrap(di_container=, commands_mapper=, queries_mapper=,
  domain_events_mapper=, message_broker=)`` is ``bootstrap(container=,
  requests=, events=, emitter=BrokerEventEmitter(broker)).requests``;
* ``AMQPMessageBroker(dsn=, queue_name=, exchange_name=)`` is
  ``brokers.AMQPMessageBroker(url, exchange=, bind_queues=[queue_name])``;
* ``kafka_producer_factory(dsn=, topics=)`` returns
  ``functools.partial(brokers.kafka_producer_factory, dsn,
  enable_idempotence=False)`` (callable outside an event loop);
* ``KafkaMessageBroker(producer, "DEBUG")`` is ``brokers.KafkaMessageBroker(producer)``;
* ``broker.send_message(event)`` is ``broker.publish([OutgoingMessage.from_event(event)])``;
* ``SqlAlchemyOutboxedEventRepository(session_factory, compressor)`` keeps the
  session factory and writes with ``outbox.OutboxRepository(compression=)``;
* ``EventProducer(repository, broker)`` is
  ``outbox.EventProducer(engine, broker, repository=)``;
* ``AioBreakerAdapter(fail_max=, timeout_duration=, exclude=)`` is
  ``resilience.InMemoryCircuitBreaker(fail_max=, timeout_duration=, exclude=)``.

The module paths python-cqrs code imports from (``cqrs_worker.mediator``,
``cqrs_worker.message_brokers``, ``cqrs_worker.adapters.kafka``,
``cqrs_worker.adapters.circuit_breaker``, ``cqrs_worker.compressors.zlib``,
``cqrs_worker.requests.request_handler``, ``cqrs_worker.requests.bootstrap``,
``cqrs_worker.requests.fallback``, ``cqrs_worker.events.event``,
``cqrs_worker.events.bootstrap``, ``cqrs_worker.events.fallback``) are one-line
re-exports of this package or of our own modules.
"""

from cqrs_worker.compat.mediators import (
    EventEmitter,
    RequestMediator,
    bootstrap_events,
    bootstrap_requests,
)
from cqrs_worker.compat.resilience import AioBreakerAdapter

__all__ = [
    "AioBreakerAdapter",
    "EventEmitter",
    "RequestMediator",
    "bootstrap_events",
    "bootstrap_requests",
]

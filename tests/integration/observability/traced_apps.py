"""The meetings example's processes with an OpenTelemetry SDK provider, for the trace test.

Each factory installs the SDK provider first (spans appended as JSON lines to
``TRACES_FILE``, service name = the factory's), then builds the real process:

* ``users_relay``: the users service's outbox (``<MEETINGS_PREFIX>_users_outbox``)
  to Kafka (``TRACES_KAFKA``);
* ``meetings_worker``, ``meetings_relay``, ``notifier``: exactly the
  processes of :mod:`consumers.meetings`.

``cqrs-worker run tests.integration.observability.traced_apps:meetings_worker --factory``
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from consumers.meetings import notifier as notifier_service
from consumers.meetings import service as meetings_service
from cqrs_worker.brokers import KafkaMessageBroker, kafka_producer_factory
from cqrs_worker.outbox import EventProducer, OutboxRepository, outbox_table
from cqrs_worker.worker.app import Worker
from tests.support.tracing import install_file_exporter


def users_outbox(prefix: str) -> OutboxRepository:
    """The users service's outbox, where the test writes ``UserJoined``."""
    return OutboxRepository(outbox_table(sa.MetaData(), name=f"{prefix}_users_outbox"))


def _traced(service: str) -> None:
    install_file_exporter(os.environ["TRACES_FILE"], service=service)


def users_relay() -> EventProducer:
    _traced("users-relay")
    return EventProducer(
        create_async_engine(os.environ["MEETINGS_DATABASE_URL"]),
        KafkaMessageBroker(
            kafka_producer_factory(os.environ["TRACES_KAFKA"], enable_idempotence=False)
        ),
        repository=users_outbox(os.environ["MEETINGS_PREFIX"]),
    )


def meetings_worker() -> Worker:
    _traced("meetings")
    return meetings_service.build()


def meetings_relay() -> EventProducer:
    _traced("meetings-relay")
    return meetings_service.relay()


def notifier() -> Worker:
    _traced("notifier")
    return notifier_service.build()

"""The transactional outbox: write events in the caller's transaction, relay them later.

* :func:`outbox_table` defines the table on your metadata;
  :class:`SqlAlchemyOutboxedEventRepository` (alias :data:`OutboxRepository`)
  writes rows with :meth:`~SqlAlchemyOutboxedEventRepository.add` and holds
  the admin calls (failed rows, requeue, purge, stats).
* :class:`OutboxEventEmitter` is the emitter handlers' events go through.
* :class:`EventProducer` is the relay (``cqrs-worker relay module:attr``),
  configured by :class:`RelaySettings`; :attr:`EventProducer.readiness` (a
  :class:`RelayReadiness`) says which dependency is down, and a
  :class:`RelayObserver` is told of every claim and publish (metrics).

Guide, DDL and Debezium settings: ``docs/outbox.md``.
"""

from cqrs_worker.outbox.ddl import outbox_ddl
from cqrs_worker.outbox.emitter import OutboxEventEmitter
from cqrs_worker.outbox.locking import RowLocking
from cqrs_worker.outbox.observer import RelayObserver
from cqrs_worker.outbox.readiness import RelayReadiness
from cqrs_worker.outbox.relay import EventProducer
from cqrs_worker.outbox.repository import (
    OutboxRecord,
    OutboxRepository,
    OutboxStats,
    SqlAlchemyOutboxedEventRepository,
)
from cqrs_worker.outbox.settings import RelaySettings
from cqrs_worker.outbox.table import (
    DEFAULT_TABLE_NAME,
    OutboxStatus,
    PayloadEncoding,
    outbox_table,
)

__all__ = [
    "DEFAULT_TABLE_NAME",
    "EventProducer",
    "OutboxEventEmitter",
    "OutboxRecord",
    "OutboxRepository",
    "OutboxStats",
    "OutboxStatus",
    "PayloadEncoding",
    "RelayObserver",
    "RelayReadiness",
    "RelaySettings",
    "RowLocking",
    "SqlAlchemyOutboxedEventRepository",
    "outbox_ddl",
    "outbox_table",
]

"""Exactly-once effects: the inbox and the unit of work a worker handles each event in.

* :func:`inbox_table` defines the table on your metadata; :class:`Inbox`
  records handled events in the caller's transaction and purges old records.
* :class:`UnitOfWork` is the worker middleware: a session and transaction per
  attempt, the inbox check, and an :attr:`~UnitOfWork.emitter` that writes
  emitted events to the outbox in the same transaction; :class:`UnitOfWorkSettings`
  choose per-event or per-batch transactions and the inbox retention.

Guide: ``docs/inbox.md``.
"""

from cqrs_worker.inbox.emitter import UnitOfWorkEmitter
from cqrs_worker.inbox.repository import Inbox
from cqrs_worker.inbox.settings import UnitOfWorkSettings
from cqrs_worker.inbox.table import DEFAULT_INBOX_TABLE_NAME, InboxStatus, inbox_table
from cqrs_worker.inbox.unit_of_work import UnitOfWork

__all__ = [
    "DEFAULT_INBOX_TABLE_NAME",
    "Inbox",
    "InboxStatus",
    "UnitOfWork",
    "UnitOfWorkEmitter",
    "UnitOfWorkSettings",
    "inbox_table",
]

"""The inbox table: which events each consumer has already handled (or dead-lettered).

Build it on your own :class:`~sqlalchemy.MetaData` so ``metadata.create_all``
and Alembic autogenerate see it::

    inbox = inbox_table(Base.metadata)              # table "inbox"

The primary key is ``(consumer, event_id)``: one consumer (a worker's
consumer group) handles an event once, and several consumers of one event
each keep their own record. The key is what makes concurrent duplicates safe:
a second transaction inserting the same key waits for the first and then
finds the row.

=================  ===========================================================
``consumer``       the consumer's name (usually the consumer group)
``event_id``       the event's uuid
``event_name``     for people reading the table
``status``         ``handled``, or ``dead-lettered`` after the last attempt
``recorded_at``    when the record committed; retention counts from here
=================  ===========================================================
"""

from __future__ import annotations

import enum
import re

import sqlalchemy as sa

from cqrs_worker.errors import ConfigurationError
from cqrs_worker.outbox.table import UtcDateTime

__all__ = ["DEFAULT_INBOX_TABLE_NAME", "InboxStatus", "inbox_table"]

DEFAULT_INBOX_TABLE_NAME = "inbox"
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,47}")


class InboxStatus(enum.StrEnum):
    """What became of a recorded event. Stored as its text value."""

    HANDLED = "handled"
    DEAD_LETTERED = "dead-lettered"


def inbox_table(metadata: sa.MetaData, *, name: str = DEFAULT_INBOX_TABLE_NAME) -> sa.Table:
    """Define the inbox table ``name`` on ``metadata`` (with its retention index).

    ``name`` is a plain identifier (letters, digits, underscores; at most 48
    characters).
    """
    if not _IDENTIFIER.fullmatch(name):
        raise ConfigurationError(
            f"inbox table name {name!r} must be a plain SQL identifier: a letter or "
            f"underscore, then letters, digits or underscores, at most 48 characters"
        )
    return sa.Table(
        name,
        metadata,
        sa.Column("consumer", sa.String(255), primary_key=True),
        sa.Column("event_id", sa.Uuid(), primary_key=True),
        sa.Column("event_name", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
        sa.Index(f"ix_{name}_recorded_at", "recorded_at"),
    )

"""The outbox table: one row per event written in the caller's transaction.

Build it on your own :class:`~sqlalchemy.MetaData` so ``metadata.create_all``
and Alembic autogenerate see it::

    outbox = outbox_table(Base.metadata)            # table "outbox"
    audit_outbox = outbox_table(Base.metadata, name="audit_outbox")

Columns (names chosen so the Debezium Outbox Event Router can tail the table;
see ``docs/outbox.md``):

=================  ===========================================================
``id``             insertion order; per-key order is the order of ``id``
``event_id``       the event's uuid, unique: adding one event twice fails
``event_name``     routing name, also sent as the ``event_name`` header
``topic``          Kafka topic / AMQP routing key
``partition_key``  message key; rows with one key are published in ``id`` order
``payload``        the envelope bytes, as published (``payload_encoding`` says
                   whether they are stored zlib-compressed)
``headers``        JSON object of text headers sent with the message
``status``         ``pending`` -> ``published``, or ``failed`` after the last attempt
``attempts``       failed publish attempts so far; ``last_error`` the latest reason
``next_attempt_at`` when a pending row that failed may be tried again; NULL
                   otherwise (so its index holds only rows waiting to retry)
``created_at``     when ``add`` ran; ``published_at`` when the broker confirmed
=================  ===========================================================

On PostgreSQL the table gets a statement-level trigger that sends
``NOTIFY <table name>`` at commit, so an idle relay wakes at once; without the
trigger (e.g. a hand-written migration) the relay just polls.
"""

from __future__ import annotations

import datetime
import enum
import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from cqrs_worker.errors import ConfigurationError

__all__ = [
    "DEFAULT_TABLE_NAME",
    "OutboxStatus",
    "PayloadEncoding",
    "UtcDateTime",
    "notify_channel",
    "outbox_table",
]

DEFAULT_TABLE_NAME = "outbox"
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,47}")


class OutboxStatus(enum.StrEnum):
    """Where a row stands. Stored as its text value."""

    PENDING = "pending"
    PUBLISHED = "published"
    FAILED = "failed"


class PayloadEncoding(enum.StrEnum):
    """How ``payload`` is stored; the relay always publishes the plain envelope."""

    IDENTITY = "identity"
    ZLIB = "zlib"


class UtcDateTime(sa.TypeDecorator[datetime.datetime]):
    """Timezone-aware UTC in Python; ``timestamptz`` on PostgreSQL, naive UTC elsewhere.

    MySQL/MariaDB get microsecond precision (``DATETIME(6)``); their default
    whole seconds would blur retry times and retention.
    """

    impl = sa.DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(sa.DateTime(timezone=True))
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(sa.DateTime())

    def process_bind_param(
        self, value: datetime.datetime | None, dialect: sa.Dialect
    ) -> datetime.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.UTC)
        if dialect.name == "postgresql":
            return value
        return value.astimezone(datetime.UTC).replace(tzinfo=None)

    def process_result_value(
        self, value: datetime.datetime | None, dialect: sa.Dialect
    ) -> datetime.datetime | None:
        if value is None or value.tzinfo is not None:
            return value
        return value.replace(tzinfo=datetime.UTC)


_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_PAYLOAD = sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")


def outbox_table(metadata: sa.MetaData, *, name: str = DEFAULT_TABLE_NAME) -> sa.Table:
    """Define the outbox table ``name`` on ``metadata`` (with its indexes and trigger).

    ``name`` is a plain identifier (letters, digits, underscores; at most 48
    characters, leaving room for the index names derived from it).
    """
    if not _IDENTIFIER.fullmatch(name):
        raise ConfigurationError(
            f"outbox table name {name!r} must be a plain SQL identifier: a letter or "
            f"underscore, then letters, digits or underscores, at most 48 characters"
        )
    table = sa.Table(
        name,
        metadata,
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("event_name", sa.String(255), nullable=False),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("partition_key", sa.String(255), nullable=True),
        sa.Column("payload", _PAYLOAD, nullable=False),
        sa.Column("payload_encoding", sa.String(16), nullable=False),
        sa.Column("headers", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", UtcDateTime(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("published_at", UtcDateTime(), nullable=True),
        sa.UniqueConstraint("event_id", name=f"uq_{name}_event_id"),
        # Partial where the database has them (PostgreSQL, SQLite): marking a
        # row published then adds no entry to these, and they stay as small
        # as the backlog. MySQL/MariaDB index every row.
        # The claim: pending rows in id order.
        _partial(f"ix_{name}_pending", ["status", "id"], "status = 'pending'"),
        # "Is an earlier row of this key unpublished, outside my batch?"; failed keys.
        _partial(
            f"ix_{name}_unpublished",
            ["status", "partition_key", "id"],
            "status IN ('pending', 'failed')",
        ),
        # Keys waiting for a retry: only pending rows that failed have a value.
        _partial(f"ix_{name}_retry", ["next_attempt_at"], "next_attempt_at IS NOT NULL"),
    )
    _add_postgres_notify_trigger(table)
    return table


def _partial(name: str, columns: list[str], where: str) -> sa.Index:
    predicate = sa.text(where)
    return sa.Index(name, *columns, postgresql_where=predicate, sqlite_where=predicate)


def notify_channel(table: sa.Table) -> str:
    """The PostgreSQL NOTIFY channel the table's trigger signals (its name)."""
    return table.name


def _add_postgres_notify_trigger(table: sa.Table) -> None:
    # Two DDL statements: asyncpg runs one command per execute. The table is
    # written %(fullname)s so SQLAlchemy quotes it as CREATE TABLE did (a
    # mixed-case name such as OpsOutbox must be quoted everywhere, or
    # PostgreSQL folds it to lower case and finds no such table).
    name = table.name
    function = _pg_quote(f"{name}_notify")
    # sa.DDL's constructor is untyped in SQLAlchemy 2.1.
    create_function = sa.DDL(  # type: ignore[no-untyped-call]
        f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN PERFORM pg_notify('{name}', ''); RETURN NULL; END $$"
    )
    create_trigger = sa.DDL(  # type: ignore[no-untyped-call]
        f"CREATE TRIGGER {function} AFTER INSERT ON %(fullname)s "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
    )
    drop_function = sa.DDL(f"DROP FUNCTION IF EXISTS {function}()")  # type: ignore[no-untyped-call]
    for when, ddl in (
        ("after_create", create_function),
        ("after_create", create_trigger),
        ("after_drop", drop_function),
    ):
        sa.event.listen(table, when, ddl.execute_if(dialect="postgresql"))


def _pg_quote(identifier: str) -> str:
    from sqlalchemy.dialects import postgresql

    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]  # untyped in SQLAlchemy
    return str(dialect.identifier_preparer.quote(identifier))

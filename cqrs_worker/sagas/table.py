"""The saga table: one row per saga instance, written with the step's effects.

Build it on your own :class:`~sqlalchemy.MetaData` (``metadata.create_all``
and Alembic autogenerate see it)::

    sagas = saga_table(Base.metadata)           # table "sagas"

==================  =========================================================
``saga_id``         the instance (uuid); replies carry it
``name``            the definition's name
``status``          running, compensating, completed, compensated, failed
``step``            index of the step running now (forward)
``variant``         0: the step itself, 1: its fallback
``context``         the definition's context model, as JSON
``results``         each finished step's result, by step name
``steps``           the finished steps, in order, and whether compensated
``step_started_at`` when the current step (or compensation) began
``deadline``        a waiting step's timeout, or when to retry a compensation
``attempts``        failed attempts of the current compensation
``error``           the last failure, for people (and ``sagas show``)
==================  =========================================================

The index on ``(status, deadline)`` is what the deadline check reads.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite

from cqrs_worker.errors import ConfigurationError
from cqrs_worker.outbox.table import UtcDateTime

__all__ = ["DEFAULT_SAGA_TABLE_NAME", "saga_ddl", "saga_table"]

DEFAULT_SAGA_TABLE_NAME = "sagas"
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,47}")


def saga_table(metadata: sa.MetaData, *, name: str = DEFAULT_SAGA_TABLE_NAME) -> sa.Table:
    """Define the saga table ``name`` (a plain identifier, at most 48 characters)."""
    if not _IDENTIFIER.fullmatch(name):
        raise ConfigurationError(
            f"saga table name {name!r} must be a plain SQL identifier: a letter or "
            f"underscore, then letters, digits or underscores, at most 48 characters"
        )
    return sa.Table(
        name,
        metadata,
        sa.Column("saga_id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("variant", sa.Integer(), nullable=False),
        sa.Column("context", sa.JSON(), nullable=False),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("step_started_at", UtcDateTime(), nullable=False),
        sa.Column("deadline", UtcDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Index(f"ix_{name}_status_deadline", "status", "deadline"),
    )


def saga_ddl(dialect: str, *, name: str = DEFAULT_SAGA_TABLE_NAME) -> str:
    """The ``CREATE`` statements (table and index) for ``dialect``."""
    dialects: dict[str, Callable[[], sa.Dialect]] = {
        "postgresql": postgresql.dialect,
        "mysql": mysql.dialect,
        "mariadb": lambda: mysql.dialect(is_mariadb=True),
        "sqlite": sqlite.dialect,
    }
    if dialect not in dialects:
        raise ConfigurationError(
            f"no saga DDL for dialect {dialect!r}; choose one of {', '.join(dialects)}"
        )
    target = dialects[dialect]()
    table = saga_table(sa.MetaData(), name=name)
    statements = [str(sa.schema.CreateTable(table).compile(dialect=target)).strip()]
    statements += [str(sa.schema.CreateIndex(i).compile(dialect=target)) for i in table.indexes]
    return ";\n\n".join(statements) + ";\n"

"""The outbox table's DDL as text, for hand-written migrations and the docs."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite

from cqrs_worker.errors import ConfigurationError
from cqrs_worker.outbox.table import DEFAULT_TABLE_NAME, outbox_table

__all__ = ["DIALECTS", "outbox_ddl"]

DIALECTS = ("postgresql", "mysql", "mariadb", "sqlite")


def _dialect(name: str) -> sa.Dialect:
    if name == "postgresql":
        return postgresql.dialect()  # type: ignore[no-untyped-call]  # untyped in SQLAlchemy
    if name in ("mysql", "mariadb"):
        return mysql.dialect(is_mariadb=name == "mariadb")
    return sqlite.dialect()


def outbox_ddl(dialect: str, *, name: str = DEFAULT_TABLE_NAME) -> str:
    """The ``CREATE`` statements (table, indexes, PostgreSQL trigger) for ``dialect``."""
    if dialect not in DIALECTS:
        raise ConfigurationError(
            f"no outbox DDL for dialect {dialect!r}; choose one of {', '.join(DIALECTS)}"
        )
    target = _dialect(dialect)
    table = outbox_table(sa.MetaData(), name=name)
    statements = [str(sa.schema.CreateTable(table).compile(dialect=target)).strip()]
    statements += [
        str(sa.schema.CreateIndex(index).compile(dialect=target))
        for index in sorted(table.indexes, key=lambda i: str(i.name))
    ]
    if dialect == "postgresql":
        # Compiled against the table, so its name is quoted as in CREATE TABLE.
        statements += [
            str(ddl.against(table).compile(dialect=target)) for ddl in _trigger_ddl(table)
        ]
    return ";\n\n".join(statements) + ";\n"


def _trigger_ddl(table: sa.Table) -> list[sa.DDL]:
    listeners = table.dispatch.after_create
    return [fn for fn in listeners if isinstance(fn, sa.DDL)]

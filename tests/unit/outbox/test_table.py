from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from cqrs_worker.errors import ConfigurationError
from cqrs_worker.outbox import outbox_ddl, outbox_table
from cqrs_worker.outbox.ddl import DIALECTS
from cqrs_worker.outbox.table import notify_channel

DOCS = Path(__file__).parents[3] / "docs" / "outbox.md"


def test_the_table_is_defined_on_the_callers_metadata_with_its_indexes() -> None:
    metadata = sa.MetaData()
    table = outbox_table(metadata, name="orders_outbox")
    assert metadata.tables["orders_outbox"] is table
    assert {index.name for index in table.indexes} == {
        "ix_orders_outbox_pending",
        "ix_orders_outbox_unpublished",
        "ix_orders_outbox_retry",
    }
    assert notify_channel(table) == "orders_outbox"


@pytest.mark.parametrize("name", ["", "1outbox", "out box", "x;drop", "a" * 49])
def test_a_table_name_must_be_a_plain_identifier(name: str) -> None:
    with pytest.raises(ConfigurationError, match="plain SQL identifier"):
        outbox_table(sa.MetaData(), name=name)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_documented_ddl_is_what_the_code_creates(dialect: str) -> None:
    ddl = outbox_ddl(dialect)
    assert ddl.startswith("CREATE TABLE outbox (")
    assert ddl in DOCS.read_text(), f"docs/outbox.md is missing the current {dialect} DDL"


def test_only_postgresql_gets_the_notify_trigger() -> None:
    assert "pg_notify('outbox', '')" in outbox_ddl("postgresql")
    assert "TRIGGER" not in outbox_ddl("mariadb")


def test_an_unknown_dialect_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="choose one of"):
        outbox_ddl("oracle")

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from consumers.orders.messages import Order, OrderPlaced, Shipped, StockReserved
from consumers.orders.saga import order_saga
from cqrs_worker import Command
from cqrs_worker.errors import ConfigurationError
from cqrs_worker.sagas import (
    Fallback,
    LocalStep,
    RemoteStep,
    SagaDefinition,
    SagaReply,
    saga_table,
)


class Go(Command):
    pass


def local(name: str) -> LocalStep[Any]:
    return LocalStep(name=name, action=lambda call: Go())


def remote(name: str, **fields: Any) -> RemoteStep[Any]:
    return RemoteStep(
        name=name,
        request=lambda call: Shipped(payload=SagaReply(saga_id=call.saga_id, step=call.step)),
        **fields,
    )


def test_the_order_saga_waits_for_two_reply_types() -> None:
    assert order_saga.reply_types() == (StockReserved, Shipped)
    assert [step.name for step in order_saga.steps] == ["reserve_stock", "charge_payment", "ship"]
    assert order_saga.context is Order


def test_a_fallback_takes_its_step_s_place_and_name() -> None:
    step = Fallback(step=local("pay"), fallback=local("pay_later"))
    definition = SagaDefinition(name="s", context=pydantic.BaseModel, steps=[step])
    assert definition.steps[0].name == "pay"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "", "steps": [local("a")]}, "1 to 100 characters"),
        ({"steps": []}, "has no steps"),
        ({"steps": [local("a"), local("a")]}, "two steps named 'a'"),
        ({"steps": [remote("a", replies=())]}, "remote step 'a' names no reply"),
        ({"steps": [remote("a", replies=(Shipped,), timeout=0)]}, "timeout must be > 0"),
        ({"steps": [local("a")], "compensation_attempts": 0}, "compensation_attempts"),
        ({"steps": [remote("a", replies=(OrderPlaced,))]}, "payload must be a SagaReply"),
    ],
)
def test_a_wrong_definition_says_what_to_fix(fields: dict[str, Any], message: str) -> None:
    values: dict[str, Any] = {"name": "s", "context": pydantic.BaseModel, **fields}
    with pytest.raises(ConfigurationError, match=message):
        SagaDefinition(**values)


def test_the_table_name_must_be_a_plain_identifier() -> None:
    import sqlalchemy as sa

    with pytest.raises(ConfigurationError, match="plain SQL identifier"):
        saga_table(sa.MetaData(), name="sagas; drop")
    assert saga_table(sa.MetaData()).name == "sagas"


def test_the_ddl_creates_the_table_sqlalchemy_defines(tmp_path: Any) -> None:
    import sqlite3

    from cqrs_worker.sagas import saga_ddl

    with sqlite3.connect(tmp_path / "ddl.db") as conn:
        conn.executescript(saga_ddl("sqlite", name="my_sagas"))
        columns = [row[1] for row in conn.execute("PRAGMA table_info(my_sagas)")]
        indexes = [row[1] for row in conn.execute("PRAGMA index_list(my_sagas)")]
    import sqlalchemy as sa

    assert columns == [c.name for c in saga_table(sa.MetaData()).columns]
    assert "ix_my_sagas_status_deadline" in indexes
    with pytest.raises(ConfigurationError, match="no saga DDL for dialect 'oracle'"):
        saga_ddl("oracle")

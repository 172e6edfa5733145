"""``outbox_ddl``: a mixed-case table name is quoted in every statement, the trigger's too."""

from __future__ import annotations

from cqrs_worker.outbox import outbox_ddl


def test_a_mixed_case_name_is_quoted_in_the_trigger_and_its_function() -> None:
    ddl = outbox_ddl("postgresql", name="OpsOutbox")

    trigger = next(s for s in ddl.split(";\n") if s.strip().startswith("CREATE TRIGGER")).strip()
    assert trigger == (
        'CREATE TRIGGER "OpsOutbox_notify" AFTER INSERT ON "OpsOutbox" '
        'FOR EACH STATEMENT EXECUTE FUNCTION "OpsOutbox_notify"()'
    )
    assert 'CREATE OR REPLACE FUNCTION "OpsOutbox_notify"()' in ddl
    assert "pg_notify('OpsOutbox', '')" in ddl


def test_a_lower_case_name_reads_as_before() -> None:
    ddl = outbox_ddl("postgresql", name="orders_outbox")

    assert (
        "CREATE TRIGGER orders_outbox_notify AFTER INSERT ON orders_outbox "
        "FOR EACH STATEMENT EXECUTE FUNCTION orders_outbox_notify()"
    ) in ddl

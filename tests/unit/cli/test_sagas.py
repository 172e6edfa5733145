"""``cqrs-worker sagas``: status, show, retry, recover, diagram; bad input is one line, exit 2."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cqrs_worker.cli import main
from cqrs_worker.sagas import SagaStatus
from tests.integration.sagas.journal import Plan
from tests.unit.cli import sagas_app

TARGET = "tests.unit.cli.sagas_app:build"


@pytest.fixture(autouse=True)
def _keep_logging() -> Iterator[None]:
    """The CLI configures logging onto this test's captured stderr; undo it afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def failed_saga(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> uuid.UUID:
    """A journal saga whose compensation of ``a`` failed twice: parked as failed."""
    monkeypatch.setenv("SAGAS_CLI_DB", str(tmp_path / "sagas.db"))
    sagas_app.journal.undo_attempts.clear()

    async def park() -> uuid.UUID:
        sagas = sagas_app.build()
        engine = sagas.unit_of_work.session_factory.kw["bind"]
        async with engine.begin() as conn:
            await conn.run_sync(sagas_app.metadata.create_all)
        async with sagas.unit_of_work.transaction():
            saga_id = await sagas.start("journal", Plan(tag="cli", fail_at="c", undo_a_failures=2))
        for _ in range(1000):
            async with sagas.unit_of_work.session_factory() as session:
                record = await sagas.store.load(session, saga_id, lock=False)
            assert record is not None
            if record.status is SagaStatus.FAILED:
                break
            await sagas.check_deadlines()
        await engine.dispose()
        return saga_id

    return asyncio.run(park())


def test_status_show_and_retry(failed_saga: uuid.UUID, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sagas", "status", TARGET, "--factory"]) == 0
    out = capsys.readouterr().out
    assert "journal\tfailed\t1" in out
    assert f"failed {failed_saga} journal: compensating a: RuntimeError" in out

    assert main(["sagas", "show", TARGET, str(failed_saga), "--factory"]) == 0
    out = capsys.readouterr().out
    assert "status: failed" in out
    assert "attempts: 2" in out
    assert "  b compensated" in out

    assert main(["sagas", "retry", TARGET, str(failed_saga), "--factory"]) == 0
    assert (
        capsys.readouterr().out == f"saga {failed_saga} is compensated: compensating a: "
        "RuntimeError: undo a failed (attempt 2)\n"
    )
    assert main(["sagas", "recover", TARGET, "--factory"]) == 0
    assert capsys.readouterr().out == "moved 0 saga(s) whose deadline had passed\n"
    # Finished sagas go; a running one stays, however old.
    running = asyncio.run(_start_running())
    assert main(["sagas", "purge", TARGET, "--older-than", "3600", "--factory"]) == 0
    assert capsys.readouterr().out == "deleted 0 saga(s)\n"
    assert main(["sagas", "purge", TARGET, "--older-than", "0", "--factory"]) == 0
    assert capsys.readouterr().out == "deleted 1 saga(s)\n"
    assert main(["sagas", "status", TARGET, "--factory"]) == 0
    assert capsys.readouterr().out == "journal\trunning\t1\n"
    assert main(["sagas", "show", TARGET, str(running), "--factory"]) == 0
    assert "status: running" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["show", TARGET, "not-a-uuid", "--factory"], "'not-a-uuid' is not a saga id (a uuid)"),
        (["show", TARGET, str(uuid.UUID(int=1)), "--factory"], "no saga 00000000-0000-0000-0000"),
        (["retry", TARGET, str(uuid.UUID(int=1)), "--factory"], "no saga 00000000-0000-0000-0000"),
        (["status", "tests.unit.cli.nothing_here:x"], "tests.unit.cli.nothing_here"),
        (["diagram", "consumers.orders.saga:define"], "pass --factory"),
        (["purge", TARGET, "--older-than", "-1", "--factory"], "--older-than must be 0 or more"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    failed_saga: uuid.UUID, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["sagas", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"cqrs-worker sagas {args[0]}: ")
    assert message in err


def test_retrying_a_saga_that_is_not_failed_is_refused(
    failed_saga: uuid.UUID, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sagas", "retry", TARGET, str(failed_saga), "--factory"]) == 0
    capsys.readouterr()
    assert main(["sagas", "retry", TARGET, str(failed_saga), "--factory"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cqrs-worker sagas retry: saga ")
    assert "is compensated; only failed sagas can be retried" in err


async def _start_running() -> uuid.UUID:
    """A journal saga left running (its row says so, as if a step waited)."""
    sagas = sagas_app.build()
    async with sagas.unit_of_work.transaction() as session:
        saga_id = await sagas.start("journal", Plan(tag="running"))
        record = await sagas.store.load(session, saga_id)
        assert record is not None
        record.status = SagaStatus.RUNNING
        await sagas.store.save(session, record)
    await sagas.unit_of_work.session_factory.kw["bind"].dispose()
    return saga_id


def test_ddl(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sagas", "ddl", "--dialect", "postgresql", "--table", "order_sagas"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("CREATE TABLE order_sagas (")
    assert "deadline TIMESTAMP WITH TIME ZONE" in out
    assert main(["sagas", "ddl", "--dialect", "oracle"]) == 2
    assert capsys.readouterr().err == (
        "cqrs-worker sagas ddl: no saga DDL for dialect 'oracle'; "
        "choose one of postgresql, mysql, mariadb, sqlite\n"
    )


def test_diagram(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sagas", "diagram", "consumers.orders.saga:order_saga"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("flowchart LR\n")
    assert "s2 -. fails .-> c1" in out

"""``cqrs-worker sagas ...``: look at sagas and repair them.

* ``status MODULE:ATTR`` -- sagas by definition and status; the failed ones
* ``show MODULE:ATTR ID`` -- one saga: status, step, deadline, error, steps, results
* ``recover MODULE:ATTR`` -- move every saga whose deadline passed, now (what
  the worker's deadline check does on its interval)
* ``retry MODULE:ATTR ID`` -- compensate a ``failed`` saga again, now
* ``diagram MODULE:ATTR`` -- a Mermaid flowchart of a definition (or of each
  definition of a :class:`~cqrs_worker.sagas.Sagas`)
* ``purge MODULE:ATTR --older-than SECONDS`` -- delete completed and
  compensated sagas not moved for that long (never running or failed ones)
* ``ddl [--dialect postgresql] [--table sagas]`` -- the CREATE statements

``MODULE:ATTR`` names the service's :class:`~cqrs_worker.sagas.Sagas` (with
``--factory``: a callable returning it); its unit of work's database and
request handlers are used, so ``retry`` runs local compensations here.
Exit codes: 0 done, 1 the saga could not be compensated, 2 bad input.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import sys
import uuid
from typing import Any

from cqrs_worker.errors import ConfigurationError

__all__ = ["add_parser"]


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("sagas", help="inspect and repair sagas", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    commands = parser.add_subparsers(dest="sagas_command", metavar="ACTION", required=True)
    for name, text in (
        ("status", "sagas by status"),
        ("recover", "move sagas whose deadline passed"),
    ):
        _add_target(commands.add_parser(name, help=text))
    diagram = commands.add_parser("diagram", help="a Mermaid flowchart of a saga definition")
    _add_target(diagram, "the SagaDefinition (or the Sagas)")
    for name, text in (("show", "one saga"), ("retry", "compensate a failed saga again")):
        command = commands.add_parser(name, help=text)
        _add_target(command)
        command.add_argument("saga_id", metavar="ID", help="the saga's id (a uuid)")
    purge = commands.add_parser("purge", help="delete finished sagas older than a cut-off")
    _add_target(purge)
    purge.add_argument("--older-than", type=float, required=True, metavar="SECONDS")
    ddl = commands.add_parser("ddl", help="print the CREATE statements")
    ddl.add_argument("--dialect", default="postgresql", help="postgresql, mysql, mariadb or sqlite")
    ddl.add_argument("--table", default="sagas", help="table name (default sagas)")
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    # Errors (one line, exit 2) and failures (exit 1) are reported by cli.main.
    if args.sagas_command == "ddl":
        from cqrs_worker.sagas.table import saga_ddl

        sys.stdout.write(saga_ddl(args.dialect, name=args.table))
        return 0
    return asyncio.run(_command(args))


def _add_target(parser: argparse.ArgumentParser, what: str = "the Sagas") -> None:
    parser.add_argument("target", metavar="MODULE:ATTR", help=f"where {what} is")
    parser.add_argument("--factory", action="store_true", help="ATTR is a callable returning it")
    parser.add_argument(
        "--log-level", help="logging level (default INFO, or CQRS_WORKER_LOG_LEVEL)"
    )
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        help="log line format (default text, or CQRS_WORKER_LOG_FORMAT)",
    )


async def _command(args: argparse.Namespace) -> int:
    from cqrs_worker.cli.target import load_target
    from cqrs_worker.sagas import SagaDefinition, Sagas, SagaStatus, mermaid

    if args.sagas_command == "diagram":
        value = await load_target(
            args.target, factory=args.factory, expected=(SagaDefinition, Sagas)
        )
        definitions = (
            [value] if isinstance(value, SagaDefinition) else list(value.definitions.values())
        )
        _say("\n".join(mermaid(d) for d in definitions).rstrip("\n"))
        return 0
    saga_id = _saga_id(args.saga_id) if args.sagas_command in ("show", "retry") else None
    sagas: Sagas = await load_target(args.target, factory=args.factory, expected=(Sagas,))
    engine = sagas.unit_of_work.session_factory.kw["bind"]
    try:
        if args.sagas_command == "status":
            async with sagas.unit_of_work.session_factory() as session:
                counts = await sagas.store.counts(session)
                failed = await sagas.store.listing(session, statuses=[SagaStatus.FAILED], limit=20)
            for (name, status), count in sorted(counts.items()):
                _say(f"{name}\t{status}\t{count}")
            if not counts:
                _say("no sagas")
            for record in failed:
                _say(f"failed {record.saga_id} {record.name}: {record.error}")
            return 0
        if args.sagas_command == "purge":
            if args.older_than < 0:
                raise ConfigurationError("--older-than must be 0 or more seconds")
            before = datetime.datetime.now(datetime.UTC) - datetime.timedelta(
                seconds=args.older_than
            )
            total = 0
            while True:
                async with sagas.unit_of_work.session_factory.begin() as session:
                    deleted = await sagas.store.purge(session, before=before)
                total += deleted
                if deleted == 0:
                    break
            _say(f"deleted {total} saga(s)")
            return 0
        if args.sagas_command == "recover":
            moved = total = await sagas.check_deadlines()
            while moved == sagas.settings.check_batch:
                moved = await sagas.check_deadlines()
                total += moved
            _say(f"moved {total} saga(s) whose deadline had passed")
            return 0
        assert saga_id is not None  # parsed above for show and retry
        if args.sagas_command == "retry":
            record = await sagas.retry(saga_id)
            _say(
                f"saga {saga_id} is {record.status}" + (f": {record.error}" if record.error else "")
            )
            return 0 if record.status is SagaStatus.COMPENSATED else 1
        async with sagas.unit_of_work.session_factory() as session:
            found = await sagas.store.load(session, saga_id, lock=False)
        if found is None:
            raise ConfigurationError(f"no saga {saga_id} in table {sagas.store.table.name}")
        _say(_describe(found))
        return 0
    finally:
        await engine.dispose()


def _saga_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise ConfigurationError(f"{text!r} is not a saga id (a uuid)") from None


def _describe(record: Any) -> str:
    deadline = record.deadline.isoformat() if record.deadline else "-"
    lines = [
        f"saga {record.saga_id} ({record.name})",
        f"status: {record.status}",
        f"step: {record.step} (variant {record.variant})",
        f"deadline: {deadline}",
        f"attempts: {record.attempts}",
        f"error: {record.error or '-'}",
        f"created: {record.created_at.isoformat()}  updated: {record.updated_at.isoformat()}",
        "steps:",
    ]
    for entry in record.steps:
        flags = " compensated" if entry["compensated"] else ""
        flags += " timed-out" if entry.get("timed_out") else ""
        lines.append(f"  {entry['name']}{flags} ({entry['started_at']} .. {entry['finished_at']})")
    lines.append(f"context: {json.dumps(record.context, sort_keys=True)}")
    lines.append(f"results: {json.dumps(record.results, sort_keys=True)}")
    return "\n".join(lines)


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")

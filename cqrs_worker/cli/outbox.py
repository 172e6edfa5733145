"""``cqrs-worker outbox ...``: look at the outbox and repair it.

* ``status`` -- rows waiting and failed, age of the oldest waiting row
* ``failed [--limit N]`` -- failed rows with their last error
* ``requeue --event-id ID ... | --all-failed`` -- failed rows become pending again
* ``purge --older-than SECONDS [--status pending]`` -- delete old rows
  (``--status pending`` is for tables Debezium tails instead of the relay)
* ``ddl [--dialect postgresql] [--table outbox]`` -- the CREATE statements

The table is found with ``--dsn URL`` (or ``CQRS_WORKER_OUTBOX_DSN``) and
``--table NAME`` (or ``CQRS_WORKER_OUTBOX_TABLE``, default ``outbox``), e.g.
``cqrs-worker outbox status --dsn postgresql+asyncpg://ops@db/app --table
orders_outbox``. Or give ``MODULE:ATTR`` of the relay's
:class:`~cqrs_worker.outbox.EventProducer` (``--factory`` if it builds one):
its engine and table are used, its broker is never started.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import sys
import uuid
from typing import Any

from cqrs_worker.cli.relay import add_target_arguments, load_producer
from cqrs_worker.errors import ConfigurationError

__all__ = ["add_parser"]


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "outbox", help="inspect and repair the outbox table", description=__doc__
    )
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    commands = parser.add_subparsers(dest="outbox_command", metavar="ACTION", required=True)
    status = commands.add_parser("status", help="rows waiting and failed")
    _add_table_arguments(status)
    failed = commands.add_parser("failed", help="failed rows and their errors")
    _add_table_arguments(failed)
    failed.add_argument("--limit", type=int, default=50)
    requeue = commands.add_parser("requeue", help="make failed rows pending again")
    _add_table_arguments(requeue)
    which = requeue.add_mutually_exclusive_group(required=True)
    which.add_argument("--event-id", type=uuid.UUID, nargs="+", dest="event_ids")
    which.add_argument("--all-failed", action="store_true")
    purge = commands.add_parser("purge", help="delete rows older than a cut-off")
    _add_table_arguments(purge)
    purge.add_argument("--older-than", type=float, required=True, metavar="SECONDS")
    purge.add_argument("--status", choices=["published", "pending", "failed"], default="published")
    ddl = commands.add_parser("ddl", help="print the CREATE statements")
    ddl.add_argument("--dialect", default="postgresql", help="postgresql, mysql, mariadb or sqlite")
    ddl.add_argument("--table", help="table name (default outbox, or CQRS_WORKER_OUTBOX_TABLE)")
    parser.set_defaults(handler=_handle)


def _add_table_arguments(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser, required=False)
    parser.add_argument(
        "--dsn", help="database URL (default CQRS_WORKER_OUTBOX_DSN); the password is never shown"
    )
    parser.add_argument("--table", help="table name (default outbox, or CQRS_WORKER_OUTBOX_TABLE)")


# What each action does to the table, checked before it runs.
_PRIVILEGES = {
    "status": ("SELECT",),
    "failed": ("SELECT",),
    "requeue": ("SELECT", "UPDATE"),
    "purge": ("SELECT", "DELETE"),
}


def _handle(args: argparse.Namespace) -> int:
    # Errors (one line, exit 2) and failures (exit 1) are reported by cli.main.
    from cqrs_worker.cli.outbox_settings import OutboxAdminSettings

    if args.outbox_command == "ddl":
        from cqrs_worker.outbox.ddl import outbox_ddl

        table = OutboxAdminSettings.load(table=args.table).table
        sys.stdout.write(outbox_ddl(args.dialect, name=table))
        return 0
    return asyncio.run(_admin(args))


async def _admin(args: argparse.Namespace) -> int:
    from cqrs_worker.cli.outbox_settings import OutboxAdminSettings
    from cqrs_worker.cli.preflight import check_database

    producer: Any = None
    if args.target is not None and (args.dsn or args.table):
        raise ConfigurationError(
            "give the database with --dsn / CQRS_WORKER_OUTBOX_DSN or MODULE:ATTR, not both "
            "(--table goes with --dsn)"
        )
    if args.target is not None:
        producer = await load_producer(args.target, factory=args.factory)
        engine, repository = producer.engine, producer.repository
        where = f"the engine of {args.target}"
    else:
        settings = OutboxAdminSettings.load(dsn=args.dsn, table=args.table)
        engine, repository = settings.engine(), settings.repository()
        where = "--dsn / CQRS_WORKER_OUTBOX_DSN"
    try:
        await check_database(
            engine, repository.table, privileges=_PRIVILEGES[args.outbox_command], where=where
        )
        async with engine.begin() as conn:
            await _act(args, repository, conn)
    finally:
        await engine.dispose()
        if producer is not None:
            await producer.broker.close()  # never started; frees what its client holds
    return 0


async def _act(args: argparse.Namespace, repository: Any, conn: Any) -> None:
    from cqrs_worker.outbox.table import OutboxStatus

    if args.outbox_command == "status":
        stats = await repository.stats(conn)
        oldest = stats.oldest_pending_at.isoformat() if stats.oldest_pending_at else "-"
        _say(f"pending: {stats.pending}\nfailed: {stats.failed}\noldest pending: {oldest}")
    elif args.outbox_command == "failed":
        for row in await repository.failed(conn, limit=args.limit):
            _say(
                f"{row.event_id}  {row.event_name}  topic={row.topic} "
                f"key={row.partition_key} attempts={row.attempts}\n    {row.last_error}"
            )
    elif args.outbox_command == "requeue":
        if args.all_failed:
            count = await repository.requeue_failed(conn)
        else:
            count = await repository.requeue(conn, args.event_ids)
        _say(f"requeued {count} row(s)")
    else:
        before = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=args.older_than)
        status, total = OutboxStatus(args.status), 0
        while (deleted := await repository.purge(conn, before=before, status=status)) > 0:
            total += deleted
        _say(f"deleted {total} row(s)")


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")

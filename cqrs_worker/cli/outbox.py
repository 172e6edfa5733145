"""``cqrs-worker outbox ...``: look at the outbox and repair it.

* ``status MODULE:ATTR`` -- rows waiting and failed, age of the oldest waiting row
* ``failed MODULE:ATTR`` -- failed rows with their last error
* ``requeue MODULE:ATTR --event-id ID ... | --all-failed`` -- failed rows become pending again
* ``purge MODULE:ATTR --older-than SECONDS [--status pending]`` -- delete old rows
  (``--status pending`` is for tables Debezium tails instead of the relay)
* ``ddl [--dialect postgresql] [--table outbox]`` -- the CREATE statements

``MODULE:ATTR`` names the relay's :class:`~cqrs_worker.outbox.EventProducer`
(its engine and table are used; its broker is never started).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import sys
import uuid
from typing import Any

from cqrs_worker.cli.logs import configure_logging
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
    add_target_arguments(status)
    failed = commands.add_parser("failed", help="failed rows and their errors")
    add_target_arguments(failed)
    failed.add_argument("--limit", type=int, default=50)
    requeue = commands.add_parser("requeue", help="make failed rows pending again")
    add_target_arguments(requeue)
    which = requeue.add_mutually_exclusive_group(required=True)
    which.add_argument("--event-id", type=uuid.UUID, nargs="+", dest="event_ids")
    which.add_argument("--all-failed", action="store_true")
    purge = commands.add_parser("purge", help="delete rows older than a cut-off")
    add_target_arguments(purge)
    purge.add_argument("--older-than", type=float, required=True, metavar="SECONDS")
    purge.add_argument("--status", choices=["published", "pending", "failed"], default="published")
    ddl = commands.add_parser("ddl", help="print the CREATE statements")
    ddl.add_argument("--dialect", default="postgresql", help="postgresql, mysql, mariadb or sqlite")
    ddl.add_argument("--table", default="outbox", help="table name (default outbox)")
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    try:
        if args.outbox_command == "ddl":
            from cqrs_worker.outbox.ddl import outbox_ddl

            sys.stdout.write(outbox_ddl(args.dialect, name=args.table))
            return 0
        configure_logging(args.log_level.upper(), args.log_format)
        return asyncio.run(_admin(args))
    except ConfigurationError as exc:
        sys.stderr.write(f"cqrs-worker outbox: {exc}\n")
        return 2


async def _admin(args: argparse.Namespace) -> int:
    from cqrs_worker.outbox.table import OutboxStatus

    producer = await load_producer(args.target, factory=args.factory)
    repository = producer.repository
    try:
        async with producer.engine.begin() as conn:
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
                before = datetime.datetime.now(datetime.UTC) - datetime.timedelta(
                    seconds=args.older_than
                )
                status, total = OutboxStatus(args.status), 0
                while (deleted := await repository.purge(conn, before=before, status=status)) > 0:
                    total += deleted
                _say(f"deleted {total} row(s)")
    finally:
        await producer.engine.dispose()
        await producer.broker.close()
    return 0


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")

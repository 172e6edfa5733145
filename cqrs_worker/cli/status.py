"""``cqrs-worker status``: a Kafka consumer group, per partition: committed, end, lag, owner.

The group and the broker come from the settings (``--group``/``--group-id``,
``--kafka-bootstrap`` or ``CQRS_WORKER_*``, with the Kafka security settings
``run`` uses); the topics from ``--topics``, else from the app target when one
is given (as ``run`` derives them), else from what the group has committed
or is assigned. Read-only: it never joins the group or commits.

Exit codes: 0 printed; 2 a setting is wrong, the broker did not answer within
``--timeout``, or the group or a topic is unknown (one line says which).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from typing import TYPE_CHECKING, Any

from cqrs_worker.errors import ConfigurationError

if TYPE_CHECKING:
    from cqrs_worker.introspection import GroupStatus

__all__ = ["add_parser", "render_status"]


def add_parser(subparsers: Any) -> None:
    from cqrs_worker.cli.worker_target import add_settings_flags

    parser = subparsers.add_parser(
        "status",
        help="show a Kafka consumer group's lag and owners per partition",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog="Settings not given as flags are read from CQRS_WORKER_<NAME> variables.",
    )
    parser.add_argument(
        "target", nargs="?", metavar="MODULE:ATTR", help="the app, to take its topics and settings"
    )
    parser.add_argument(
        "--factory", action="store_true", help="ATTR is a callable that returns one"
    )
    parser.add_argument("--group", dest="group_id", help="the consumer group (= --group-id)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--timeout", type=float, default=15.0, metavar="SECONDS", help="bound on the whole query"
    )
    add_settings_flags(parser)
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    # Failures are reported in one line below; aiokafka would log each failed
    # connection attempt too (to stderr, with no logging configured).
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    status = asyncio.run(_status(args))
    sys.stdout.write(
        json.dumps(status.to_dict(), indent=2) + "\n" if args.json else render_status(status)
    )
    return 0


async def _status(args: argparse.Namespace) -> GroupStatus:
    from cqrs_worker.cli.worker_target import load_worker, settings_overrides
    from cqrs_worker.introspection import group_status
    from cqrs_worker.security import aiokafka_options
    from cqrs_worker.worker.settings import load_settings

    overrides = settings_overrides(args)
    if args.target is not None:
        worker = await load_worker(args.target, factory=args.factory, overrides=overrides)
        settings, topics = worker.settings, worker.topics()
    else:
        settings = load_settings(**overrides)
        topics = settings.topics
    if settings.kafka_bootstrap is None:
        raise ConfigurationError(
            "no Kafka to ask: set CQRS_WORKER_KAFKA_BOOTSTRAP (--kafka-bootstrap, e.g. kafka:9092)"
        )
    if settings.group_id is None:
        raise ConfigurationError("which consumer group? set --group (or CQRS_WORKER_GROUP_ID)")
    if args.timeout <= 0:
        raise ConfigurationError(f"--timeout must be positive, got {args.timeout:g}")
    return await group_status(
        settings.kafka_bootstrap,
        settings.group_id,
        topics=topics,
        client_options=aiokafka_options(settings),
        timeout=args.timeout,
    )


def render_status(status: GroupStatus) -> str:
    """One line per partition under a header; the members and the total lag below."""
    header = ("TOPIC", "PARTITION", "COMMITTED", "END", "LAG", "MEMBER")
    rows = [
        (
            p.topic,
            str(p.partition),
            "-" if p.committed is None else str(p.committed),
            str(p.end),
            str(p.lag),
            _owner(p.member, p.client_id, p.host),
        )
        for p in status.partitions
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    count = len(status.members)
    lines = [f"group {status.group} ({status.state}, {count} member{'' if count == 1 else 's'})"]
    lines += [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in (header, *rows)
    ]
    lines.append(f"total lag: {status.total_lag}")
    if status.owners_inferred:
        lines.append(
            "owners inferred: the broker reports no assignments, so the single member of the "
            "stable group is shown as the owner of the topics it committed on"
        )
    return "\n".join(lines) + "\n"


def _owner(member: str | None, client_id: str | None, host: str | None) -> str:
    if member is None:
        return "-"
    where = "@".join(part for part in (client_id, host) if part)
    return f"{member} ({where})" if where else member

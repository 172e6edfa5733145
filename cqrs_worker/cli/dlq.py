"""``cqrs-worker dlq ...``: look at dead letters and send them back.

* ``stats NAME`` -- counts by reason, event name and exception type; oldest and newest
* ``show NAME [-n N]`` -- dead letters with their ``x-dlq-*`` headers and body
* ``replay NAME`` -- send them back to the topic or queue they came from

``NAME`` is the Kafka topic or RabbitMQ queue the worker consumes; its dead
letters are in ``NAME<dlq-suffix>``. Every command takes filters (``--reason``,
``--event-name``, ``--exception-type``, ``--since``, ``--until``; repeat a flag
for several values) and reads the worker's variables (CQRS_WORKER_KAFKA_BOOTSTRAP,
CQRS_WORKER_RABBITMQ_URL, CQRS_WORKER_DLQ_SUFFIX, TLS/SASL); flags win.

Exit codes: 0 done; 2 bad input (unknown topic or queue, unreachable broker,
bad time range), one line on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from typing import Any

from cqrs_worker.errors import ConfigurationError

__all__ = ["add_parser"]


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "dlq", help="inspect and replay dead letters", description=__doc__
    )
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    commands = parser.add_subparsers(dest="dlq_command", metavar="ACTION", required=True)
    stats = commands.add_parser("stats", help="count dead letters")
    _common(stats)
    stats.add_argument("--json", action="store_true", help="one JSON object")
    stats.add_argument(
        "--limit", type=int, default=100_000, help="read at most this many (default 100000)"
    )
    show = commands.add_parser("show", help="print dead letters with headers and body")
    _common(show)
    show.add_argument("-n", "--limit", type=int, default=10, help="how many (default 10)")
    show.add_argument("--json", action="store_true", help="one JSON object per line")
    replay = commands.add_parser("replay", help="send dead letters back where they came from")
    _common(replay)
    replay.add_argument("--count", type=int, help="replay at most this many")
    replay.add_argument("--rate", type=float, help="at most this many messages per second")
    replay.add_argument("--dry-run", action="store_true", help="count only; send nothing")
    replay.add_argument(
        "--from-beginning",
        action="store_true",
        help="Kafka: ignore the replay mark (what earlier replays sent) and read from the start",
    )
    replay.add_argument(
        "--kafka-idempotence",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="idempotent Kafka producer (CQRS_WORKER_KAFKA_IDEMPOTENCE; off for Tansu)",
    )
    parser.set_defaults(handler=_handle)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", help="the topic or queue the worker consumes")
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--kafka",
        dest="transport",
        action="store_const",
        const="kafka",
        help="use Kafka (needed only when both brokers are configured)",
    )
    which.add_argument(
        "--rabbitmq", dest="transport", action="store_const", const="rabbitmq", help="use RabbitMQ"
    )
    parser.add_argument(
        "--kafka-bootstrap", metavar="HOST:PORT", help="(CQRS_WORKER_KAFKA_BOOTSTRAP)"
    )
    parser.add_argument("--rabbitmq-url", metavar="URL", help="(CQRS_WORKER_RABBITMQ_URL)")
    parser.add_argument(
        "--dlq-suffix", metavar="SUFFIX", help="(CQRS_WORKER_DLQ_SUFFIX, default .dlq)"
    )
    parser.add_argument(
        "--timeout", type=float, default=15.0, help="seconds per broker call (default 15)"
    )
    parser.add_argument(
        "--reason", action="append", default=[], help="x-dlq-reason, e.g. handler-failed"
    )
    parser.add_argument("--event-name", action="append", default=[], metavar="NAME")
    parser.add_argument(
        "--exception-type",
        action="append",
        default=[],
        help="e.g. builtins.ValueError or ValueError",
    )
    parser.add_argument(
        "--since", metavar="TIME", help="dead-lettered at or after: ISO 8601 or 30m, 2h, 7d ago"
    )
    parser.add_argument(
        "--until", metavar="TIME", help="dead-lettered before: ISO 8601 or a duration ago"
    )


def _handle(args: argparse.Namespace) -> int:
    # Bad input raises ConfigurationError: the CLI boundary (cqrs_worker.cli.main)
    # prints it as one line and exits 2. The clients' own complaints (a refused
    # connection, logged as they retry) would only repeat that line.
    for name in ("aiokafka", "aiormq", "aio_pika"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    return asyncio.run(_command(args))


async def _command(args: argparse.Namespace) -> int:
    from cqrs_worker.dlq.filters import LetterFilter, parse_moment
    from cqrs_worker.dlq.replay import ReplayOptions
    from cqrs_worker.dlq.settings import load_dead_letter_settings

    settings = load_dead_letter_settings(
        kafka_bootstrap=args.kafka_bootstrap,
        rabbitmq_url=args.rabbitmq_url,
        dlq_suffix=args.dlq_suffix,
        kafka_idempotence=getattr(args, "kafka_idempotence", None),
    )
    if args.timeout <= 0 or (args.dlq_command != "replay" and args.limit < 1):
        raise ConfigurationError("--timeout and --limit must be positive")
    letter_filter = LetterFilter(
        reasons=frozenset(args.reason),
        event_names=frozenset(args.event_name),
        exception_types=frozenset(args.exception_type),
        since=parse_moment(args.since) if args.since else None,
        until=parse_moment(args.until) if args.until else None,
    )
    name = args.name.removesuffix(settings.dlq_suffix) or args.name
    transport = settings.transport(args.transport)
    if transport == "rabbitmq" and getattr(args, "from_beginning", False):
        raise ConfigurationError(
            "--from-beginning is for Kafka: a RabbitMQ dead-letter queue holds only what "
            "was not replayed yet"
        )
    options = (
        ReplayOptions(filter=letter_filter, count=args.count, rate=args.rate, dry_run=args.dry_run)
        if args.dlq_command == "replay"
        else None
    )
    if transport == "kafka":
        from cqrs_worker.cli.dlq_kafka import kafka_command

        return await kafka_command(args, settings, name, letter_filter, options)
    from cqrs_worker.cli.dlq_rabbitmq import rabbitmq_command

    return await rabbitmq_command(args, settings, name, letter_filter, options)


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def progress(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def print_letter(letter: Any, *, as_json: bool) -> None:
    """One dead letter: a JSON line, or a block of text."""
    if as_json:
        say(json.dumps(letter.to_json(), ensure_ascii=False))
        return
    at = letter.dead_lettered_at
    lines = [
        f"{letter.where}  {letter.event_name}  {letter.event_id}",
        f"  reason: {letter.reason}  exception: {letter.exception_type}  "
        f"dead-lettered: {at.isoformat() if at else '-'}  key: {letter.key}",
    ]
    trace = None
    for header, value in letter.headers.items():
        if header == "x-dlq-exception-stacktrace":
            trace = value
        else:
            lines.append(f"  {header}: {value}")
    data = letter.to_json()
    lines.append(f"  body: {data.get('body', data.get('body_base64'))}")
    if trace:
        lines.append("  x-dlq-exception-stacktrace:")
        lines.extend(f"    {line}" for line in trace.splitlines())
    say("\n".join(lines))

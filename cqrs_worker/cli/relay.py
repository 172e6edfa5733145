"""``cqrs-worker relay module:attr``: run the outbox relay until SIGTERM or SIGINT.

``attr`` is an :class:`~cqrs_worker.outbox.EventProducer`, or with
``--factory`` a callable (plain or async) returning one; build Kafka producers
in a factory, since aiokafka binds to the running event loop. Flags override
the producer's settings, which read ``CQRS_WORKER_RELAY_*`` variables.

The first SIGTERM/SIGINT stops claiming: batches in hand finish and commit
(releasing their row locks), the broker is closed, exit code 0. A second one
cancels at once; unfinished batches roll back and stay pending.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import logging
import os
import signal
import sys
from typing import Any

from cqrs_worker.cli.logs import configure_logging
from cqrs_worker.errors import ConfigurationError

__all__ = ["add_parser", "load_producer"]

logger = logging.getLogger(__name__)

_OVERRIDES = ("batch_size", "concurrency", "max_attempts", "retention", "health_port")


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "relay",
        help="publish committed outbox rows to the broker",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    add_target_arguments(parser)
    parser.add_argument("--batch-size", type=int, help="rows claimed and published together")
    parser.add_argument("--concurrency", type=int, help="batches in flight at once")
    parser.add_argument("--max-attempts", type=int, help="attempts before a row is marked failed")
    parser.add_argument(
        "--retention",
        type=float,
        metavar="SECONDS",
        help="delete published rows older than this (0 keeps them)",
    )
    parser.add_argument(
        "--health-port",
        type=int,
        help="serve /livez, /readyz, /metrics here (default 8081, or "
        "CQRS_WORKER_RELAY_HEALTH_PORT; 0 turns it off)",
    )
    parser.add_argument("--once", action="store_true", help="publish what is due now, then exit")
    parser.set_defaults(handler=_handle)


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="MODULE:ATTR", help="where the EventProducer is")
    parser.add_argument(
        "--factory", action="store_true", help="ATTR is a callable that returns the EventProducer"
    )
    parser.add_argument(
        "--log-level",
        default=os.environ.get("CQRS_WORKER_LOG_LEVEL", "INFO"),
        help="logging level (default INFO, or CQRS_WORKER_LOG_LEVEL)",
    )
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default=os.environ.get("CQRS_WORKER_LOG_FORMAT", "text"),
        help="log line format (default text, or CQRS_WORKER_LOG_FORMAT)",
    )


async def load_producer(target: str, *, factory: bool) -> Any:
    """Import ``module:attr`` (calling it with ``factory``); must give an EventProducer."""
    from cqrs_worker.cli.target import load_target
    from cqrs_worker.outbox.relay import EventProducer

    return await load_target(target, factory=factory, expected=(EventProducer,))


def _handle(args: argparse.Namespace) -> int:
    configure_logging(args.log_level.upper(), args.log_format)
    try:
        return asyncio.run(_relay(args))
    except ConfigurationError as exc:
        sys.stderr.write(f"cqrs-worker relay: {exc}\n")
        return 2


async def _relay(args: argparse.Namespace) -> int:
    producer = await load_producer(args.target, factory=args.factory)
    try:
        return await _run(producer, args)
    finally:
        await producer.engine.dispose()


async def _run(producer: Any, args: argparse.Namespace) -> int:
    changes: dict[str, Any] = {
        name: getattr(args, name) for name in _OVERRIDES if getattr(args, name) is not None
    }
    if "retention" in changes:
        seconds = changes["retention"]
        changes["retention"] = datetime.timedelta(seconds=seconds) if seconds > 0 else None
    if changes:
        settings = producer.settings.model_dump()
        settings.update(changes)
        producer.settings = type(producer.settings).model_validate(settings)
    if args.once:
        async with producer:
            published = await producer.drain()
        logger.info("published %d outbox row(s)", published)
        return 0
    stop = asyncio.Event()
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        if stop.is_set() and task is not None:
            logger.warning("second %s: cancelling", signal.Signals(signum).name)
            task.cancel()
            return
        logger.info("%s: finishing the batches in hand", signal.Signals(signum).name)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    from cqrs_worker.outbox.health import relay_health

    try:
        async with relay_health(producer):
            await producer.run(stop)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    return 0

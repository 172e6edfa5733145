"""``cqrs-worker relay module:attr``: run the outbox relay until SIGTERM or SIGINT.

``attr`` is an :class:`~cqrs_worker.outbox.EventProducer`, or with
``--factory`` a callable (plain or async) returning one; build Kafka producers
in a factory, since aiokafka binds to the running event loop. Flags override
the producer's settings, which read ``CQRS_WORKER_RELAY_*`` variables.

Before relaying it checks the database (connects, finds the outbox table,
may read and write it) and connects to the broker; if one of these fails it
exits 2 with one line saying what to fix. Outages after that are retried.

The first SIGTERM/SIGINT stops claiming: batches in hand finish and commit
(releasing their row locks), the broker is closed, exit code 0. A second one
cancels at once; unfinished batches roll back and stay pending. ``--once``
exits 0 when everything due was published, 1 when a publish failed or a row
was marked failed.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import logging
import signal
from typing import Any

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


def add_target_arguments(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    parser.add_argument(
        "target",
        metavar="MODULE:ATTR",
        nargs=None if required else "?",
        help="where the EventProducer is",
    )
    parser.add_argument(
        "--factory", action="store_true", help="ATTR is a callable that returns the EventProducer"
    )
    parser.add_argument(
        "--log-level", help="logging level (default INFO, or CQRS_WORKER_LOG_LEVEL)"
    )
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        help="log line format (default text, or CQRS_WORKER_LOG_FORMAT)",
    )


async def load_producer(target: str, *, factory: bool) -> Any:
    """Import ``module:attr`` (calling it with ``factory``); must give an EventProducer."""
    from cqrs_worker.cli.target import load_target
    from cqrs_worker.outbox.relay import EventProducer

    return await load_target(target, factory=factory, expected=(EventProducer,))


def _handle(args: argparse.Namespace) -> int:
    # Errors (one line, exit 2) and failures (exit 1) are reported by cli.main.
    return asyncio.run(_relay(args))


async def _relay(args: argparse.Namespace) -> int:
    from cqrs_worker.cli.preflight import check_database, start_broker

    producer = await load_producer(args.target, factory=args.factory)
    try:
        _override(producer, args)
        privileges = ["SELECT", "UPDATE"]
        if producer.settings.retention is not None:
            privileges.append("DELETE")
        await check_database(producer.engine, producer.repository.table, privileges=privileges)
        producer.broker = await start_broker(producer.broker)
        return await _run(producer, args)
    finally:
        await _close(producer.broker)
        await producer.engine.dispose()


async def _close(broker: Any) -> None:
    # Also when start-up failed before the broker was started: its client was
    # built and must be let go. Closing twice is harmless; masking the start-up
    # error with a failure to close would not be.
    try:
        await broker.close()
    except Exception:
        logger.debug("closing the broker after the relay stopped failed", exc_info=True)


def _override(producer: Any, args: argparse.Namespace) -> None:
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


async def _once(producer: Any) -> int:
    broker = producer.broker
    async with producer.engine.connect() as conn:
        failed_before = (await producer.repository.stats(conn)).failed
    published = await producer.drain()
    async with producer.engine.connect() as conn:
        marked = (await producer.repository.stats(conn)).failed - failed_before
    logger.info("published %d outbox row(s)", published)
    if broker.failed_publishes or marked > 0:
        logger.error(
            "relay --once: %d publish(es) failed, %d row(s) newly marked failed",
            broker.failed_publishes,
            max(marked, 0),
        )
        return 1
    return 0


async def _run(producer: Any, args: argparse.Namespace) -> int:
    if args.once:
        return await _once(producer)
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

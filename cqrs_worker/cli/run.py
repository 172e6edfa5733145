"""``cqrs-worker run module:attr``: consume Kafka and/or RabbitMQ until SIGTERM or SIGINT.

``attr`` is an :class:`~cqrs_worker.EventMediator` or a
:class:`~cqrs_worker.worker.app.Worker`; with ``--factory``, a callable (plain
or async) returning one. Every setting of
:class:`~cqrs_worker.worker.settings.WorkerSettings` is a flag here and a
``CQRS_WORKER_*`` variable; flags win. The first SIGTERM/SIGINT stops
gracefully (exit 0); a second exits at once.

Exit codes: 0 stopped cleanly; 1 a source failed while running; 2 the
command, the import path, a setting or a broker at start-up is wrong (the
message says what to fix); 128+N killed by a second signal N.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import Any

from cqrs_worker.errors import ConfigurationError

__all__ = ["add_parser"]

logger = logging.getLogger(__name__)


def add_parser(subparsers: Any) -> None:
    from cqrs_worker.cli.worker_target import add_settings_flags

    parser = subparsers.add_parser(
        "run",
        help="run a worker for an EventMediator",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog="Settings not given as flags are read from CQRS_WORKER_<NAME> variables.",
    )
    parser.add_argument("target", metavar="MODULE:ATTR", help="the EventMediator or Worker")
    parser.add_argument(
        "--factory", action="store_true", help="ATTR is a callable that returns one"
    )
    add_settings_flags(parser)
    parser.set_defaults(handler=_handle)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    from cqrs_worker.cli.worker_target import settings_overrides

    return settings_overrides(args)


def _handle(args: argparse.Namespace) -> int:
    from cqrs_worker.cli.logs import configure_logging
    from cqrs_worker.worker.settings import load_settings

    overrides = _overrides(args)
    try:
        settings = load_settings(**overrides)
    except ConfigurationError as exc:
        sys.stderr.write(f"cqrs-worker run: {exc}\n")
        return 2
    configure_logging(settings.log_level, settings.log_format)
    try:
        return asyncio.run(_run(args.target, factory=args.factory, overrides=overrides))
    except ConfigurationError as exc:
        sys.stderr.write(f"cqrs-worker run: {exc}\n")
        return 2
    except KeyboardInterrupt:  # a signal before the handlers were installed
        return 130
    except Exception:
        logger.exception("the worker failed")
        return 1


async def _run(target: str, *, factory: bool, overrides: dict[str, Any]) -> int:
    from cqrs_worker.cli.worker_target import load_worker

    worker = await load_worker(target, factory=factory, overrides=overrides)
    await worker.run(handle_signals=True)
    return 0

"""``cqrs-worker run module:attr``: consume Kafka and/or RabbitMQ until SIGTERM or SIGINT.

``attr`` is an :class:`~cqrs_worker.EventMediator` or a
:class:`~cqrs_worker.worker.app.Worker`; with ``--factory``, a callable (plain
or async) returning one. Every setting of
:class:`~cqrs_worker.worker.settings.WorkerSettings` is a flag here and a
``CQRS_WORKER_*`` variable; flags win. The first SIGTERM/SIGINT stops
gracefully (exit 0); a second exits at once.

Exit codes: 0 stopped cleanly; 1 a source failed while running; 2 the
command, the import path, a setting or a broker at start-up is wrong (one
line says what to fix); 128+N stopped at once by a second signal N.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import Any

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
    from cqrs_worker.worker.settings import load_settings

    # Errors (one line, exit 2) and failures (exit 1) are reported by cli.main.
    overrides = _overrides(args)
    load_settings(**overrides)  # every setting checked before anything is imported
    return asyncio.run(_run(args.target, factory=args.factory, overrides=overrides))


async def _run(target: str, *, factory: bool, overrides: dict[str, Any]) -> int:
    from cqrs_worker.cli.preflight import quiet_clients
    from cqrs_worker.cli.worker_target import load_worker

    worker = await load_worker(target, factory=factory, overrides=overrides)
    with quiet_clients(while_=lambda: worker.state in ("created", "starting")):
        await worker.run(handle_signals=True)
    return 0

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
import types
import typing
from typing import Any

__all__ = ["add_parser"]

logger = logging.getLogger(__name__)


def add_parser(subparsers: Any) -> None:
    from cqrs_worker.worker.settings import WorkerSettings

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
    for name, field in WorkerSettings.model_fields.items():
        flag = f"--{name.replace('_', '-')}"
        text = (field.description or name).replace("``", "")
        help_text = f"{text} (CQRS_WORKER_{name.upper()})"
        if field.annotation is bool:
            parser.add_argument(
                flag, dest=name, action=argparse.BooleanOptionalAction, help=help_text
            )
        else:
            parser.add_argument(flag, dest=name, metavar=_metavar(field.annotation), help=help_text)
    parser.set_defaults(handler=_handle)


def _metavar(annotation: Any) -> str:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is typing.Literal:
        return "{" + ",".join(str(a) for a in args) + "}"
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and args:
        return _metavar(args[0])
    if annotation is int:
        return "N"
    if annotation is float:
        return "SECONDS"
    return "LIST" if typing.get_origin(annotation) is typing.Annotated else "VALUE"


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    from cqrs_worker.worker.settings import WorkerSettings

    return {
        name: getattr(args, name)
        for name in WorkerSettings.model_fields
        if getattr(args, name, None) is not None
    }


def _handle(args: argparse.Namespace) -> int:
    from cqrs_worker.worker.settings import load_settings

    # Errors (one line, exit 2) and failures (exit 1) are reported by cli.main.
    overrides = _overrides(args)
    load_settings(**overrides)  # every setting checked before anything is imported
    return asyncio.run(_run(args.target, factory=args.factory, overrides=overrides))


async def _run(target: str, *, factory: bool, overrides: dict[str, Any]) -> int:
    from cqrs_worker.cli.preflight import quiet_clients
    from cqrs_worker.cli.target import load_target
    from cqrs_worker.event_mediator import EventMediator
    from cqrs_worker.worker.app import Worker
    from cqrs_worker.worker.settings import load_settings

    value = await load_target(target, factory=factory, expected=(EventMediator, Worker))
    if isinstance(value, Worker):
        code_given = value.settings.model_dump(exclude_unset=True)
        worker = value.replace(load_settings(**{**code_given, **overrides}))
    else:
        worker = Worker(value, load_settings(**overrides))
    with quiet_clients(while_=lambda: worker.state in ("created", "starting")):
        await worker.run(handle_signals=True)
    return 0

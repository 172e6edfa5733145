"""The worker a ``module:attr`` target builds, with the settings flags of ``run``.

``run`` and the commands that look at a worker without running it
(``describe``, ``asyncapi``, ``status``) share this: the same flags
(every :class:`~cqrs_worker.worker.settings.WorkerSettings` field), the same
precedence (flags over values in code over ``CQRS_WORKER_*`` variables) and
the same import errors, so what they show is what ``run`` would do.
"""

from __future__ import annotations

import argparse
import types
import typing
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cqrs_worker.worker.app import Worker

__all__ = ["add_settings_flags", "load_worker", "settings_overrides"]


def add_settings_flags(parser: argparse.ArgumentParser) -> None:
    """A ``--<name>`` flag for every worker setting (``CQRS_WORKER_<NAME>`` in the help)."""
    from cqrs_worker.worker.settings import WorkerSettings

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


def settings_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given as flags."""
    from cqrs_worker.worker.settings import WorkerSettings

    return {
        name: getattr(args, name)
        for name in WorkerSettings.model_fields
        if getattr(args, name, None) is not None
    }


async def load_worker(target: str, *, factory: bool, overrides: dict[str, Any]) -> Worker:
    """The unstarted :class:`Worker` ``cqrs-worker run target`` would run (no I/O).

    A target that is a Worker keeps the settings given in code, with the
    flags on top; an EventMediator gets a Worker with the settings from the
    flags and the environment.
    """
    from cqrs_worker.cli.target import load_target
    from cqrs_worker.event_mediator import EventMediator
    from cqrs_worker.worker.app import Worker
    from cqrs_worker.worker.settings import load_settings

    value = await load_target(target, factory=factory, expected=(EventMediator, Worker))
    if isinstance(value, Worker):
        code_given = value.settings.model_dump(exclude_unset=True)
        return value.replace(load_settings(**{**code_given, **overrides}))
    return Worker(value, load_settings(**overrides))

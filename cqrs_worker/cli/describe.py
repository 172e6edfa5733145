"""``cqrs-worker describe module:attr``: what ``run`` would consume and how, without running it.

Loads the target exactly as ``run`` does (``--factory``, every settings flag,
``CQRS_WORKER_*`` variables) and prints its topics and queues, event names
with their handlers, retry policies, time limits, middlewares and the
settings in effect with every secret redacted. ``--json`` prints the same as
one JSON object. No network I/O.

Exit codes: 0 printed; 2 the target or a setting is wrong (one line says what
to fix).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

__all__ = ["add_parser"]


def add_parser(subparsers: Any) -> None:
    from cqrs_worker.cli.worker_target import add_settings_flags

    parser = subparsers.add_parser(
        "describe",
        help="show what a worker would consume and how (no I/O)",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog="Settings not given as flags are read from CQRS_WORKER_<NAME> variables.",
    )
    parser.add_argument("target", metavar="MODULE:ATTR", help="the EventMediator or Worker")
    parser.add_argument(
        "--factory", action="store_true", help="ATTR is a callable that returns one"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_settings_flags(parser)
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    from cqrs_worker.cli.worker_target import load_worker, settings_overrides
    from cqrs_worker.introspection import describe_worker, render_description

    overrides = settings_overrides(args)
    worker = asyncio.run(load_worker(args.target, factory=args.factory, overrides=overrides))
    description = describe_worker(
        worker, target=args.target, sources=dict.fromkeys(overrides, "flag")
    )
    if args.json:
        sys.stdout.write(json.dumps(description.to_dict(), indent=2) + "\n")
    else:
        sys.stdout.write(render_description(description))
    return 0

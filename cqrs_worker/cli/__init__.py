"""The ``cqrs-worker`` command line. Only the CLI configures logging.

Each subcommand lives in its own module with two functions:
``add_parser(subparsers)`` declares its arguments and sets ``handler`` (a
function from the parsed namespace to an exit code) as a parser default.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from cqrs_worker._version import __version__

__all__ = ["main"]

#: Modules that add subcommands; each is imported only when the CLI runs.
SUBCOMMANDS: tuple[str, ...] = (
    "cqrs_worker.cli.run",
    "cqrs_worker.cli.check",
    "cqrs_worker.cli.relay",
    "cqrs_worker.cli.outbox",
    "cqrs_worker.cli.sagas",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cqrs-worker",
        description="Run CQRS event workers and the outbox relay.",
    )
    parser.add_argument("--version", action="version", version=f"cqrs-worker {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    import importlib

    for name in SUBCOMMANDS:
        importlib.import_module(name).add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    return handler(args)

"""The ``cqrs-worker`` command line. Only the CLI configures logging.

Each subcommand lives in its own module with two functions:
``add_parser(subparsers)`` declares its arguments and sets ``handler`` (a
function from the parsed namespace to an exit code) as a parser default.

One rule for every command, kept here in :func:`main`: a wrong flag, a bad
setting, an unreachable database or broker at start-up, or a missing table is
one line on stderr saying what to fix, and exit code 2 -- never a traceback
(see :mod:`cqrs_worker.cli.failures`). Unknown ``CQRS_WORKER_*`` variables are
warned about, each with the closest known name.

Exit codes (also in ``cqrs-worker --help``):

* 0 -- done, or stopped cleanly by SIGTERM/SIGINT
* 1 -- ``check``: not healthy; ``relay --once``: a publish failed or a row was
  marked failed; any command: failed while running (the log has the traceback)
* 2 -- usage or configuration: a wrong flag, setting or import path, a
  dependency unreachable at start-up, a missing outbox table
* 130 -- interrupted (SIGINT) before start-up finished
* 128+N -- ``run``: stopped at once by a second signal N (130 SIGINT, 143 SIGTERM)
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from cqrs_worker._version import __version__
from cqrs_worker.errors import ConfigurationError

__all__ = ["EXIT_CODES", "main"]

logger = logging.getLogger(__name__)

#: Modules that add subcommands; each is imported only when the CLI runs.
SUBCOMMANDS: tuple[str, ...] = (
    "cqrs_worker.cli.run",
    "cqrs_worker.cli.check",
    "cqrs_worker.cli.relay",
    "cqrs_worker.cli.outbox",
    "cqrs_worker.cli.describe",
    "cqrs_worker.cli.asyncapi",
    "cqrs_worker.cli.status",
    "cqrs_worker.cli.dlq",
    "cqrs_worker.cli.sagas",
)

EXIT_CODES = """\
exit codes:
  0        done, or stopped cleanly by SIGTERM/SIGINT
  1        check: not healthy; relay --once: a publish failed or a row was
           marked failed; any command: failed while running (see the log)
  2        usage or configuration: a wrong flag, setting or import path, a
           database or broker unreachable at start-up, a missing outbox table
           (one line on stderr says what to fix)
  130      interrupted before start-up finished
  128+N    run: stopped at once by a second signal N (130 SIGINT, 143 SIGTERM)
"""

_LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
_LOG_FORMATS = ("text", "json")


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line (``argparse`` prints the whole usage first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="cqrs-worker",
        description="Run CQRS event workers and the outbox relay.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
    action = (
        getattr(args, "outbox_command", None)
        or getattr(args, "dlq_command", None)
        or getattr(args, "sagas_command", None)
    )
    command = " ".join(str(part) for part in (args.command, action) if part)
    try:
        _configure_logging(args)
        from cqrs_worker.cli.environment import warn_unknown_variables

        warn_unknown_variables(os.environ)
        return handler(args)
    except KeyboardInterrupt:  # a signal before the command installed its handlers
        return 130
    except Exception as exc:
        from cqrs_worker.cli.failures import explain

        message = explain(exc, flags=vars(args))
        if message is None:
            logger.exception("cqrs-worker %s failed", command)
            return 1
        sys.stderr.write(f"cqrs-worker {command}: {message}\n")
        return 2


def _configure_logging(args: argparse.Namespace) -> None:
    from cqrs_worker.cli.logs import configure_logging

    level = _choice(args, "log_level", _LOG_LEVELS, "INFO").upper()
    fmt = _choice(args, "log_format", _LOG_FORMATS, "text").lower()
    configure_logging(level, "json" if fmt == "json" else "text")


def _choice(args: argparse.Namespace, name: str, allowed: tuple[str, ...], default: str) -> str:
    variable = f"CQRS_WORKER_{name.upper()}"
    flag = f"--{name.replace('_', '-')}"
    given = getattr(args, name, None)
    value = str(given if given is not None else os.environ.get(variable, "")).strip() or default
    if value.upper() not in (a.upper() for a in allowed):
        raise ConfigurationError(
            f"{variable} ({flag}): {value!r} is not one of {', '.join(allowed)}"
        )
    return value

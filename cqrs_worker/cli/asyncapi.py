"""``cqrs-worker asyncapi module:attr``: an AsyncAPI 3.0 document of what the worker consumes.

Loads the target exactly as ``run`` does (``--factory``, every settings flag,
``CQRS_WORKER_*`` variables): a channel per Kafka topic or RabbitMQ queue, a
message per event with its envelope's JSON Schema from pydantic, the Kafka
key binding, a ``receive`` operation per channel, and servers from the
settings when given (no credentials). JSON by default; ``--yaml`` needs
PyYAML (``pip install 'cqrs-worker[asyncapi]'``). No network I/O.

Exit codes: 0 written; 2 the target, a setting or the output file is wrong.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from cqrs_worker.errors import ConfigurationError

__all__ = ["add_parser", "dump_yaml"]


def add_parser(subparsers: Any) -> None:
    from cqrs_worker.cli.worker_target import add_settings_flags

    parser = subparsers.add_parser(
        "asyncapi",
        help="print an AsyncAPI 3.0 document of what a worker consumes (no I/O)",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog="Settings not given as flags are read from CQRS_WORKER_<NAME> variables.",
    )
    parser.add_argument("target", metavar="MODULE:ATTR", help="the EventMediator or Worker")
    parser.add_argument(
        "--factory", action="store_true", help="ATTR is a callable that returns one"
    )
    parser.add_argument("--yaml", action="store_true", help="YAML instead of JSON")
    parser.add_argument("--output", "-o", metavar="FILE", help="write here instead of stdout")
    parser.add_argument("--title", help="info.title (default: the target)")
    parser.add_argument(
        "--document-version", default="1.0.0", metavar="VERSION", help="info.version"
    )
    add_settings_flags(parser)
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    from cqrs_worker.cli.worker_target import load_worker, settings_overrides
    from cqrs_worker.introspection import build_asyncapi

    overrides = settings_overrides(args)
    worker = asyncio.run(load_worker(args.target, factory=args.factory, overrides=overrides))
    document = build_asyncapi(
        worker.mediator.event_map,
        worker.settings,
        title=args.title or args.target,
        version=args.document_version,
        topics=worker.topics(),
    )
    text = dump_yaml(document) if args.yaml else json.dumps(document, indent=2) + "\n"
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        Path(args.output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(
            f"cannot write {args.output!r} ({exc.strerror or type(exc).__name__}); check --output"
        ) from None
    return 0


def dump_yaml(document: dict[str, Any]) -> str:
    """``document`` as YAML, keys in their order; PyYAML is the ``asyncapi`` extra."""
    try:
        import yaml  # type: ignore[import-untyped]  # PyYAML ships no stubs; one call
    except ImportError:
        raise ConfigurationError(
            "--yaml needs PyYAML: pip install 'cqrs-worker[asyncapi]' (or leave out --yaml "
            "for JSON)"
        ) from None
    text: str = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    return text

"""``cqrs-worker check``: ask a running worker's health server; exit 0 when healthy, else 1.

Exit 2 (one line) when there is no port to ask: ``--port`` or
``CQRS_WORKER_HEALTH_PORT`` is 0 or not a port number.

Made for Kubernetes exec probes (see :mod:`cqrs_worker.worker.health` for
the probe YAML). ``--ready`` (the default) asks ``/readyz``, ``--live`` asks
``/livez``. The port defaults to ``CQRS_WORKER_HEALTH_PORT`` (else 8080).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from cqrs_worker.errors import ConfigurationError

__all__ = ["add_parser"]


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check",
        help="probe a running worker's health (exit 0 healthy, 1 not)",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("--host", default="127.0.0.1", help="where the worker listens")
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help="health port (default: CQRS_WORKER_HEALTH_PORT, else 8080)",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--ready", dest="path", action="store_const", const="/readyz", help="readiness (default)"
    )
    which.add_argument("--live", dest="path", action="store_const", const="/livez", help="liveness")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for an answer")
    parser.set_defaults(handler=_handle, path="/readyz")


def _port(args: argparse.Namespace) -> int:
    if args.port is not None:
        raw, where = str(args.port), "--port"
    else:
        raw = os.environ.get("CQRS_WORKER_HEALTH_PORT", "8080").strip() or "8080"
        where = "CQRS_WORKER_HEALTH_PORT"
    if not raw.isdigit() or not 0 < int(raw) <= 65_535:
        # A setting that leaves nothing to ask is configuration (exit 2), not ill health.
        raise ConfigurationError(
            f"{where}: {raw!r} is not a health port (1-65535); pass --port with the port the "
            f"worker's or relay's health server listens on"
        )
    return int(raw)


def _handle(args: argparse.Namespace) -> int:
    from cqrs_worker.worker.health import probe

    port = _port(args)
    url = f"http://{args.host}:{port}{args.path}"
    try:
        status, body = probe(args.host, port, args.path, timeout=args.timeout)
    except OSError as exc:
        sys.stderr.write(f"cqrs-worker check: {url} did not answer ({exc})\n")
        return 1
    if status == 200:
        sys.stdout.write(f"{url}: {body.strip() or 'ok'}\n")
        return 0
    sys.stderr.write(f"cqrs-worker check: {url} answered {status}: {body.strip()}\n")
    return 1

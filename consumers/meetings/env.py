"""The example's settings from the environment: ``NAME``, or ``NAME_FILE`` naming a file.

Secrets (the database and AMQP URLs carry passwords) come from files in
Kubernetes: a Secret mounted as a volume, ``MEETINGS_DATABASE_URL_FILE=
/var/run/secrets/meetings/database-url``, the same convention as the
``CQRS_WORKER_<NAME>_FILE`` variables of the worker and the relay. A file keeps
the value out of ``kubectl describe``, out of the environment of child
processes, and follows a rotated Secret without a new pod spec.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["setting"]


def setting(name: str, default: str | None = None) -> str:
    """The value of ``name``, read from the file ``name_FILE`` names when that is set.

    Setting both is a mistake (which one wins would be a guess), and so is
    neither without a default; both raise :class:`RuntimeError` naming the
    variables.
    """
    path = os.environ.get(f"{name}_FILE")
    value = os.environ.get(name)
    if path and value is not None:
        raise RuntimeError(f"set {name} or {name}_FILE, not both")
    if path:
        # One trailing newline is how `kubectl create secret --from-file` and editors save it.
        return Path(path).read_text(encoding="utf-8").removesuffix("\n")
    if value is not None:
        return value
    if default is not None:
        return default
    raise RuntimeError(f"set {name} (or {name}_FILE, a file holding the value)")

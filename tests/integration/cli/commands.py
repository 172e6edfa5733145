"""Running the real ``cqrs-worker`` command, and reading what it printed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
RELAY = "tests.integration.cli.relay_app:build"


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without ``CQRS_WORKER_*`` (the test's own go in ``extra``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CQRS_WORKER_")}
    env.update({"CQRS_WORKER_HEALTH_PORT": "0", **extra})
    return env


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``cqrs-worker ARGS`` in a subprocess (``python -m cqrs_worker.cli``, as the script does)."""
    return subprocess.run(
        [sys.executable, "-m", "cqrs_worker.cli", *args],
        cwd=ROOT,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def error_lines(stderr: str) -> list[str]:
    """The non-empty stderr lines that are not WARNING log lines."""
    return [line for line in stderr.splitlines() if line.strip() and " WARNING " not in line]

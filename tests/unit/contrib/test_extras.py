"""Without its extra, each optional adapter fails on import with the extra to install."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

_WITHOUT_EXTRAS = """
import importlib, importlib.abc, sys

MISSING = ("di", "dependency_injector", "redis")

class Missing(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in MISSING:
            raise ImportError(f"No module named {name!r}")
        return None

sys.meta_path.insert(0, Missing())
import cqrs_worker, cqrs_worker.resilience, cqrs_worker.compat  # these need none of them
for module in (
    "cqrs_worker.contrib.di",
    "cqrs_worker.contrib.dependency_injector",
    "cqrs_worker.resilience.redis",
):
    try:
        importlib.import_module(module)
    except ImportError as exc:
        print(exc)
"""


def test_each_adapter_names_its_extra() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_EXTRAS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.splitlines() == [
        "cqrs_worker.contrib.di needs di: pip install 'cqrs-worker[di]'",
        "cqrs_worker.contrib.dependency_injector needs dependency-injector: "
        "pip install 'cqrs-worker[dependency-injector]'",
        "cqrs_worker.resilience.redis needs redis-py: pip install 'cqrs-worker[redis]'",
    ]

"""The package's public names, and the one place that checks the extra is installed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cqrs_worker.contrib.fastapi as package

ROOT = Path(__file__).resolve().parents[4]

_WITHOUT_FASTAPI = """
import importlib.abc, sys

class NoFastAPI(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "fastapi" or name.startswith("fastapi."):
            raise ImportError(f"No module named {name!r}")
        return None

sys.meta_path.insert(0, NoFastAPI())
import cqrs_worker, cqrs_worker.contrib  # the core does not need it
try:
    import cqrs_worker.contrib.fastapi.lifespan
except ImportError as exc:
    print(exc)
"""


def test_every_public_name_exists_once() -> None:  # ruff (RUF022) keeps __all__ sorted
    assert len(set(package.__all__)) == len(package.__all__)
    for name in package.__all__:
        assert getattr(package, name) is not None


def test_without_fastapi_the_error_names_the_extra() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_FASTAPI],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == (
        "cqrs_worker.contrib.fastapi needs FastAPI: pip install 'cqrs-worker[fastapi]'"
    )

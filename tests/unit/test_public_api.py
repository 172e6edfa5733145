"""The public API is sorted and complete, and importing it has no side effects.

The rule for "complete" (house rule 2, a small API re-exported from
``cqrs_worker``):

* Every *class* in the ``__all__`` of a top-level module (``cqrs_worker/<name>.py``
  whose name does not start with ``_``) and of ``cqrs_worker.envelope`` (whose
  codec and registry users build) is exported from ``cqrs_worker``.
* Except the exception tree: users import a specific exception from
  ``cqrs_worker.errors``; the top level exports its root and the direct
  branches under it, which is what callers catch broadly.
* Functions, constants, type aliases and TypeVars may stay in their module
  (``compose``, ``event_name_of``, ``EVENT_NAME_HEADER`` serve extension
  authors); the ones an application calls are exported by choice.
* Other subpackages (brokers, outbox, worker, cli, contrib) are reached through
  their own path, so importing ``cqrs_worker`` loads no broker or database
  client; they keep their own ``__all__`` tests.
"""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import cqrs_worker
from cqrs_worker import errors

ROOT = Path(__file__).resolve().parents[2]
RE_EXPORTED_SUBPACKAGES = ("cqrs_worker.envelope", "cqrs_worker.events", "cqrs_worker.requests")
# python-cqrs's module paths (cqrs_worker/compat/): they re-export its call shapes, not our classes.
PYTHON_CQRS_PATHS = ("cqrs_worker.mediator",)


def core_module_names() -> list[str]:
    names = [
        f"cqrs_worker.{info.name}"
        for info in pkgutil.iter_modules(cqrs_worker.__path__)
        if not info.ispkg and not info.name.startswith("_")
    ]
    names = [name for name in names if name not in PYTHON_CQRS_PATHS]
    return sorted(names) + list(RE_EXPORTED_SUBPACKAGES)


CORE_MODULES = core_module_names()


def module_all(module: ModuleType) -> list[str]:
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{module.__name__} has no __all__"
    return list(exported)


def test_all_is_sorted_and_unique() -> None:
    assert cqrs_worker.__all__ == sorted(cqrs_worker.__all__)
    assert len(set(cqrs_worker.__all__)) == len(cqrs_worker.__all__)


def test_every_exported_name_exists() -> None:
    missing = [name for name in cqrs_worker.__all__ if not hasattr(cqrs_worker, name)]
    assert missing == []


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from cqrs_worker import *", namespace)
    namespace.pop("__builtins__")

    assert sorted(namespace) == sorted(cqrs_worker.__all__)


def test_core_modules_are_found() -> None:
    # Guards the discovery itself: an empty list would make the next test vacuous.
    for expected in ("cqrs_worker.container", "cqrs_worker.events", "cqrs_worker.errors"):
        assert expected in CORE_MODULES


@pytest.mark.parametrize("module_name", CORE_MODULES)
def test_module_all_lists_only_names_it_has(module_name: str) -> None:
    module = importlib.import_module(module_name)
    exported = module_all(module)

    assert [name for name in exported if not hasattr(module, name)] == []
    assert exported == sorted(exported), f"{module_name}.__all__ is not sorted"


@pytest.mark.parametrize("module_name", [m for m in CORE_MODULES if m != errors.__name__])
def test_every_public_class_is_exported(module_name: str) -> None:
    module = importlib.import_module(module_name)
    classes = [name for name in module_all(module) if inspect.isclass(getattr(module, name))]

    not_exported = [
        name
        for name in classes
        if getattr(cqrs_worker, name, None) is not getattr(module, name)
        or name not in cqrs_worker.__all__
    ]
    assert not_exported == [], f"add these from {module_name} to cqrs_worker.__all__"


def test_the_root_error_and_its_branches_are_exported() -> None:
    branches = [
        name
        for name in errors.__all__
        if inspect.isclass(cls := getattr(errors, name))
        and issubclass(cls, errors.CqrsWorkerError)
        and cls.__bases__ in ((errors.CqrsWorkerError,), (Exception,))
    ]

    assert "CqrsWorkerError" in branches
    assert [name for name in branches if name not in cqrs_worker.__all__] == []


def test_version_is_a_string() -> None:
    assert isinstance(cqrs_worker.__version__, str)
    assert cqrs_worker.__version__.count(".") >= 2


# Run in a fresh interpreter: this test process has imported everything already.
_PROBE = """
import json, logging, sys, threading, warnings
warnings.simplefilter("error")
root = logging.getLogger()
before = (list(root.handlers), root.level, threading.active_count())
import cqrs_worker
import cqrs_worker.envelope
import cqrs_worker.cli
heavy = ("aiokafka", "aio_pika", "aiormq", "sqlalchemy", "faststream", "asyncpg", "asyncmy",
         "aiosqlite", "dishka", "prometheus_client", "cqrs")
loggers = logging.Logger.manager.loggerDict
print(json.dumps({
    "root_handlers_added": len(root.handlers) - len(before[0]),
    "root_level_changed": root.level != before[1],
    "loggers_with_handlers": sorted(
        name for name, logger in loggers.items()
        if isinstance(logger, logging.Logger) and logger.handlers
    ),
    "cqrs_worker_levels": sorted(
        name for name, logger in loggers.items()
        if name.startswith("cqrs_worker") and isinstance(logger, logging.Logger)
        and logger.level != logging.NOTSET
    ),
    "heavy_modules": sorted(m for m in sys.modules if m.split(".")[0] in heavy),
    "threads_added": threading.active_count() - before[2],
}))
"""


def test_importing_has_no_side_effects() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    report = json.loads(result.stdout)

    assert report == {
        "root_handlers_added": 0,
        "root_level_changed": False,
        "loggers_with_handlers": [],
        "cqrs_worker_levels": [],
        "heavy_modules": [],
        "threads_added": 0,
    }

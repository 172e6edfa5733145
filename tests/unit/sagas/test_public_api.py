"""``cqrs_worker.sagas`` exports a sorted, complete API, and importing it starts nothing."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import cqrs_worker.sagas as sagas


def test_all_is_sorted_and_names_every_public_class() -> None:
    # The engine and the compensations are the runtime's internals.
    assert sagas.__all__ == sorted(sagas.__all__)
    for info in pkgutil.iter_modules(sagas.__path__):
        module = importlib.import_module(f"cqrs_worker.sagas.{info.name}")
        for name in getattr(module, "__all__", ()):
            if inspect.isclass(getattr(module, name)) and info.name not in (
                "engine",
                "compensation",
            ):
                assert name in sagas.__all__, f"{info.name}.{name} is not exported"

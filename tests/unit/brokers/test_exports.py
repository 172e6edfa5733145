"""cqrs_worker.brokers exports exactly its public names, sorted."""

from __future__ import annotations

import cqrs_worker.brokers as brokers


def test_all_is_sorted_and_complete() -> None:
    public = {
        name
        for name, value in vars(brokers).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("cqrs_worker.")
    }

    assert brokers.__all__ == sorted(brokers.__all__)
    assert set(brokers.__all__) == public

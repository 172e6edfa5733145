"""cqrs_worker.inbox exports its public names, sorted; every module's classes are reachable."""

from __future__ import annotations

import cqrs_worker.inbox as inbox


def test_all_is_sorted_and_complete() -> None:
    public = {
        name
        for name, value in vars(inbox).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("cqrs_worker.")
    }
    constants = {name for name in inbox.__all__ if name.isupper()}

    assert inbox.__all__ == sorted(inbox.__all__)
    assert set(inbox.__all__) - constants == public

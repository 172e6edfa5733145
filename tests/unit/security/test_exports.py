"""cqrs_worker.security exports its public names, sorted."""

from __future__ import annotations

import cqrs_worker.security as security


def test_all_is_sorted_and_complete() -> None:
    public = {
        name
        for name, value in vars(security).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("cqrs_worker.")
    }
    # ruff's isort-style order (RUF022): constants, then classes, then functions.
    order = sorted(security.__all__, key=lambda n: (not n.isupper(), not n[:1].isupper(), n))
    assert security.__all__ == order
    assert public <= set(security.__all__)
    assert all(hasattr(security, name) for name in security.__all__)

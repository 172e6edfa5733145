"""The README's python-cqrs migration table promises nothing that fails.

Every dotted name in its first column resolves once ``cqrs`` is renamed to
``cqrs_worker``, and every ``cqrs_worker...`` name in its last column
resolves as written. The samples themselves run in
``tests/integration/python_cqrs/``.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
SECTION = README.split("### Moving over from python-cqrs", 1)[1].split("\n## ", 1)[0]
ROWS = [
    [cell.strip() for cell in line.strip("|").split(" | ")]
    for line in SECTION.splitlines()
    if line.startswith("| `")
]
NAME = re.compile(r"`((?:cqrs|cqrs_worker)(?:\.\w+)+)")


def names(cell: str) -> list[str]:
    return NAME.findall(cell)


def resolve(dotted: str) -> object:
    """Import the longest module prefix of ``dotted``, then follow attributes."""
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[split:]:
            target = getattr(target, attribute)
        return target
    raise ModuleNotFoundError(dotted)


PYTHON_CQRS = sorted({n for row in ROWS for n in names(row[0]) if n.startswith("cqrs.")})
OURS = sorted(
    {n for row in ROWS for n in names(row[1]) + names(row[2]) if n.startswith("cqrs_worker.")}
)


def test_the_table_is_there() -> None:
    assert len(ROWS) >= 15
    assert all(len(row) == 3 for row in ROWS), [row for row in ROWS if len(row) != 3]
    assert len(PYTHON_CQRS) >= 15
    assert len(OURS) >= 15


@pytest.mark.parametrize("dotted", PYTHON_CQRS)
def test_python_cqrs_names_resolve_after_the_rename(dotted: str) -> None:
    resolve("cqrs_worker" + dotted.removeprefix("cqrs"))


@pytest.mark.parametrize("dotted", OURS)
def test_our_names_resolve(dotted: str) -> None:
    resolve(dotted)

"""The exception hierarchy is drawn, completely and correctly, in errors' docstring."""

from __future__ import annotations

import inspect
import re

import pytest

from cqrs_worker import errors

_DRAWN = re.compile(r"^(?P<indent>[ │├└─]*)(?P<name>[A-Z]\w+)")


def drawn_tree() -> dict[str, str | None]:
    """``{exception name: drawn parent name}`` from the ``::`` block of the docstring."""
    lines = (errors.__doc__ or "").splitlines()
    start = lines.index("::") + 1
    block: list[str] = []
    for line in lines[start:]:
        if not line.strip():
            if block:
                break
            continue
        block.append(line)
    root_column = len(block[0]) - len(block[0].lstrip())
    parents: dict[str, str | None] = {}
    stack: list[str] = []
    for line in block:
        match = _DRAWN.match(line)
        assert match, f"cannot read drawn line {line!r}"
        depth = (len(match["indent"]) - root_column) // 4
        del stack[depth:]
        parents[match["name"]] = stack[-1] if stack else None
        stack.append(match["name"])
    return parents


def exception_classes() -> dict[str, type[BaseException]]:
    return {
        name: cls
        for name in errors.__all__
        if inspect.isclass(cls := getattr(errors, name)) and issubclass(cls, BaseException)
    }


def test_every_exception_is_drawn_once() -> None:
    assert sorted(drawn_tree()) == sorted(exception_classes())


@pytest.mark.parametrize("name", sorted(exception_classes()))
def test_drawn_parent_is_the_real_base(name: str) -> None:
    cls = exception_classes()[name]
    parent = drawn_tree()[name]

    if parent is None:
        assert cls is errors.CqrsWorkerError
    else:
        # A second base may only be a built-in exception, and the drawing says so.
        first, *others = cls.__bases__
        assert first is getattr(errors, parent)
        for other in others:
            assert other.__module__ == "builtins"
            assert f"also a {other.__name__}" in (errors.__doc__ or "")


def test_every_error_descends_from_the_root() -> None:
    for cls in exception_classes().values():
        assert issubclass(cls, errors.CqrsWorkerError)


def test_decode_errors_have_distinct_reasons_and_context() -> None:
    decode_errors = [
        cls for cls in exception_classes().values() if issubclass(cls, errors.DecodeError)
    ]
    reasons = [cls.reason for cls in decode_errors]
    assert len(set(reasons)) == len(reasons)

    error = errors.UnknownEventError("nobody knows", event_name="X", event_id="42")
    assert (str(error), error.reason, error.event_name, error.event_id) == (
        "nobody knows",
        "unknown-event",
        "X",
        "42",
    )

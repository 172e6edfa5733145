"""Mermaid diagrams of a chain of handlers, for documentation.

``CoRMermaid([ByPassword, ByToken, Refuse]).sequence()`` is a sequence diagram:
the request reaches each link in turn, and each either answers or passes it
on. ``class_diagram()`` shows the links, the request they take and what they
answer. Paste the text into a ```` ```mermaid ```` block.
"""

from __future__ import annotations

import itertools
import typing
from collections.abc import Sequence
from typing import Any

from cqrs_worker.chain import CORRequestHandler

__all__ = ["CoRMermaid"]

_INDENT = "    "


class CoRMermaid:
    """Draws the chain of the given link classes, in chain order."""

    def __init__(self, handlers: Sequence[type[CORRequestHandler[Any, Any]]]) -> None:
        self._handlers = tuple(handlers)

    def sequence(self) -> str:
        """A ``sequenceDiagram``: who answers, who passes the request on."""
        lines = ["sequenceDiagram", f"{_INDENT}participant C as Chain"]
        if not self._handlers:
            lines.append(f"{_INDENT}Note over C: no handlers bound")
            return "\n".join(lines)
        aliases = [f"L{n}" for n in range(1, len(self._handlers) + 1)]
        for alias, handler in zip(aliases, self._handlers, strict=True):
            lines.append(f"{_INDENT}participant {alias} as {handler.__name__}")
        lines.append(f"{_INDENT}C->>{aliases[0]}: handle(request)")
        for depth, (alias, handler) in enumerate(zip(aliases, self._handlers, strict=True)):
            pad = _INDENT * (depth + 1)
            lines.append(f"{pad}alt {handler.__name__} takes the request")
            lines.append(f"{pad}{_INDENT}{alias}-->>C: result")
            lines.append(f"{pad}else not its request")
            if depth + 1 < len(aliases):
                lines.append(f"{pad}{_INDENT}{alias}->>{aliases[depth + 1]}: next(request)")
            else:
                lines.append(f"{pad}{_INDENT}{alias}-->>C: None (end of chain)")
        for depth in reversed(range(len(self._handlers))):
            lines.append(f"{_INDENT * (depth + 1)}end")
        return "\n".join(lines)

    def class_diagram(self) -> str:
        """A ``classDiagram``: each link, its request and response types, and the links."""
        base = CORRequestHandler.__name__
        lines = ["classDiagram", f"{_INDENT}class {base}", f"{_INDENT}<<abstract>> {base}"]
        drawn: set[str] = set()
        for handler in self._handlers:
            request, response = _type_arguments(handler)
            lines.append(f"{_INDENT}class {handler.__name__}")
            lines.append(f"{_INDENT}{base} <|-- {handler.__name__}")
            for kind, type_ in (("handles", request), ("returns", response)):
                if type_ is None:
                    continue
                if type_.__name__ not in drawn:
                    drawn.add(type_.__name__)
                    lines.append(f"{_INDENT}class {type_.__name__}")
                lines.append(f"{_INDENT}{handler.__name__} ..> {type_.__name__} : {kind}")
        for current, following in itertools.pairwise(self._handlers):
            lines.append(f"{_INDENT}{current.__name__} --> {following.__name__} : next")
        return "\n".join(lines)


def _type_arguments(handler: type[Any]) -> tuple[type[Any] | None, type[Any] | None]:
    """The request and response classes a link declares as ``CORRequestHandler[Req, Res]``."""
    for base in getattr(handler, "__orig_bases__", ()):
        origin = typing.get_origin(base)
        if isinstance(origin, type) and issubclass(origin, CORRequestHandler):
            found = [arg if isinstance(arg, type) else None for arg in typing.get_args(base)]
            found += [None, None]
            return found[0], found[1]
    return None, None

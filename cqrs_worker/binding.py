"""What a map may bind in place of a handler class: :class:`HandlerBinding`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cqrs_worker.container import Container

__all__ = ["HandlerBinding"]


class HandlerBinding:
    """Bound in place of a handler class: builds one message's handler itself.

    The mediator calls :meth:`build` in the message's container scope and uses
    what it returns like a handler (``handle``, and ``events`` if it emits). A
    chain of handlers (:mod:`cqrs_worker.chain`) and a fallback
    (:mod:`cqrs_worker.resilience`) are bindings.
    """

    __slots__ = ()

    async def build(self, container: Container) -> Any:
        raise NotImplementedError(f"{type(self).__qualname__} must implement build()")

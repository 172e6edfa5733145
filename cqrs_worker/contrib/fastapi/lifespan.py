"""Start brokers (and whatever else the app needs) with the app: :class:`Lifespan`.

``FastAPI(lifespan=Lifespan(broker, ...))``: at start-up each resource is
started in the order given; at shutdown they are stopped in reverse order.
A resource is an object with ``start()`` and ``close()`` coroutines (every
:class:`~cqrs_worker.brokers.MessageBroker`) or an async context manager.
If one fails to start, those already started are stopped and the app does
not start. A failure to stop one does not keep the others running: every
one is stopped, then the failure is raised.

Your own lifespan function can run it inside its body::

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with cqrs_lifespan(app):
            yield
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any, Protocol, runtime_checkable

from cqrs_worker.errors import ConfigurationError

__all__ = ["Lifespan", "Startable"]

logger = logging.getLogger(__name__)


@runtime_checkable
class Startable(Protocol):
    """What the lifespan starts and stops: a broker, a relay client, ..."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...


Resource = Startable | AbstractAsyncContextManager[Any]


class Lifespan:
    """A FastAPI ``lifespan`` that starts ``resources`` and stops them in reverse order."""

    def __init__(self, *resources: Resource) -> None:
        self._resources: list[Resource] = []
        for resource in resources:
            self.add(resource)

    def add(self, resource: Resource) -> None:
        """Start ``resource`` after those added before it (call before the app starts)."""
        if not isinstance(resource, Startable | AbstractAsyncContextManager):
            raise ConfigurationError(
                f"the lifespan starts objects with start() and close(), or async context "
                f"managers; {type(resource).__qualname__} is neither"
            )
        self._resources.append(resource)

    def __call__(self, app: object) -> AbstractAsyncContextManager[None]:
        return self._run()

    @asynccontextmanager
    async def _run(self) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for resource in self._resources:
                if isinstance(resource, AbstractAsyncContextManager):
                    await stack.enter_async_context(resource)
                else:
                    await resource.start()
                    stack.push_async_callback(resource.close)
                logger.debug("started %s", type(resource).__qualname__)
            yield

"""The application the metrics tests run under ``cqrs-worker run``: failures on demand,
and a handler that hangs on the first attempt of orders numbered ``HANG`` and above
(unless the environment says ``OBSERVED_APP_HANG=0``)."""

from __future__ import annotations

import asyncio
import os
from typing import ClassVar

from cqrs_worker import DefaultContainer, EventMap, EventMediator
from tests.unit.worker.sample import OrderPlaced

HANG = 1000
#: ``cqrs-worker run`` of this application.
RUN = ("-m", "cqrs_worker.cli", "run", f"{__name__}:mediator", "--factory")


class Handle:
    attempts: ClassVar[dict[int, int]] = {}

    async def handle(self, event: OrderPlaced) -> None:
        n, fail = event.payload.n, event.payload.fail
        attempt = Handle.attempts[n] = Handle.attempts.get(n, 0) + 1
        if n >= HANG and attempt == 1 and os.environ.get("OBSERVED_APP_HANG") != "0":
            await asyncio.Event().wait()  # hung until HANDLER_TIMEOUT cancels it
        if fail < 0 or attempt <= fail:
            raise RuntimeError(f"order {n} failed on attempt {attempt}")


def mediator() -> EventMediator:
    events = EventMap()
    events.bind(OrderPlaced, Handle)
    return EventMediator(events, DefaultContainer())

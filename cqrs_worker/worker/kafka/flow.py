"""Back-pressure for the fetch loop: :class:`FlowControl`.

Two bounds keep memory flat whatever the handlers do:

* ``max_pending`` deliveries queued or running. Above it the fetch loop stops
  asking for records until they drain to half. A short wait is a plain wait
  (aiokafka keeps its prefetched records); one longer than ``stall_timeout``
  pauses every partition and keeps polling, because a consumer that does not
  poll within ``max_poll_interval_ms`` is thrown out of its group however
  long a retry takes. Pausing drops what aiokafka prefetched, so it is kept
  for real stalls.
* ``max_uncommitted`` messages of one partition past its committable
  position: one slow message holds back the commit of everything after it,
  and the offset tracker must not grow without bound. That partition pauses
  until half of them are committable.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from aiokafka.errors import IllegalStateError

from cqrs_worker.worker.kafka.partition import PartitionState

__all__ = ["FlowControl"]

logger = logging.getLogger(__name__)


class FlowControl:
    """Decides when to fetch and which partitions to pause; wakes the fetch loop on room."""

    def __init__(self, *, max_pending: int, max_uncommitted: int) -> None:
        if max_pending < 1 or max_uncommitted < 1:
            raise ValueError("max_pending and max_uncommitted must be at least 1")
        self._max_pending = max_pending
        self._low_pending = max_pending // 2
        self._max_uncommitted = max_uncommitted
        self._low_uncommitted = max_uncommitted // 2
        self._held = False
        #: Held for longer than the stall timeout: every partition is paused.
        self.stalled = False
        #: The fetch loop waits in :meth:`wait_for_room`.
        self.waiting = False
        self._room = asyncio.Event()

    def hold(self, pending: int) -> bool:
        """Whether to stop taking records, with ``pending`` deliveries in the lanes."""
        if self._held:
            self._held = pending > self._low_pending
        else:
            self._held = pending >= self._max_pending
        if not self._held:
            self.stalled = False
        return self._held

    def update(self, consumer: Any, states: Iterable[PartitionState]) -> bool:
        """Pause and resume partitions of ``consumer``; ``True`` when every one is paused."""
        stalled = self._held and self.stalled
        limit, low = self._max_uncommitted, self._low_uncommitted
        pause: list[Any] = []
        resume: list[Any] = []
        every = True
        for state in states:
            uncommitted = state.offsets.outstanding
            wanted = stalled or uncommitted >= limit or (state.paused and uncommitted > low)
            if wanted != state.paused:
                state.paused = wanted
                (pause if wanted else resume).append(state.tp)
            every = every and wanted
        try:
            if pause:
                consumer.pause(*pause)
            if resume:
                consumer.resume(*resume)
        except IllegalStateError:  # revoked meanwhile: the next assignment starts unpaused
            logger.debug("pause/resume of a partition no longer assigned", exc_info=True)
        return every

    def finished(self, state: PartitionState, pending: int) -> None:
        """For each finished delivery while :attr:`waiting`: wake the loop when it may go on."""
        if (
            pending <= self._low_pending
            if self._held
            else state.offsets.outstanding <= self._low_uncommitted
        ):
            self._room.set()

    def wake(self) -> None:
        """Wake :meth:`wait_for_room` now (shutdown)."""
        self._room.set()

    async def wait_for_room(self, timeout: float) -> bool:
        """Wait until the fetch loop may go on; ``False`` if ``timeout`` seconds passed first."""
        self._room.clear()
        self.waiting = True
        try:
            async with asyncio.timeout(timeout):  # not wait_for: it can lose a cancellation
                await self._room.wait()
        except TimeoutError:
            return False
        finally:
            self.waiting = False
        return True

"""Back-pressure for the fetch loop: :class:`FlowControl`.

Two bounds keep memory flat whatever the handlers do, and neither lets one
stuck partition stop the others:

* ``max_pending`` deliveries queued or running. A fetch takes at most the
  room left under it. Once it is reached the source is *under pressure* until
  the deliveries drain to half of it; meanwhile each assigned partition has a
  share of ``max_pending`` (``max_pending / partitions``) and only the
  partitions holding less than half of their share are fetched, each up to
  its share. A partition whose work does not drain (a key being retried, a
  slow handler) therefore waits alone while the others flow. Queued or
  running deliveries stay within ``2 * max_pending``: what was fetched
  before the pressure, plus at most one share per partition.
* ``max_uncommitted`` messages of one partition past its committable
  position: one slow message holds back the commit of everything after it,
  and the offset tracker must not grow without bound. That partition pauses
  until half of them are committable.

Within a partition, a stuck key holds back only itself as far as the commit
allows: the deliveries queued behind a key being retried (*parked*) do not
count as pending while there are at most ``max_uncommitted`` of them in all,
so the other keys of that partition are fetched and handled until it has
``max_uncommitted`` messages past its commit. With parked deliveries, queued
or running ones stay within ``2 * max_pending + max_uncommitted``.

When no partition may be fetched, the loop waits (aiokafka keeps its
prefetched records); a wait longer than ``stall_timeout`` pauses the
partitions that may not be fetched and keeps polling, because a consumer that
does not poll within ``max_poll_interval_ms`` is thrown out of its group
however long a retry takes. Pausing drops what aiokafka prefetched for those
partitions, so it is kept for real stalls; partitions are fetched selectively
with ``getmany(*partitions)`` instead, which keeps the others' prefetch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from typing import Any

from aiokafka.errors import IllegalStateError

from cqrs_worker.worker.kafka.partition import PartitionState

__all__ = ["FlowControl"]

logger = logging.getLogger(__name__)


class FlowControl:
    """Decides what to fetch and which partitions to pause; wakes the fetch loop on room."""

    def __init__(self, *, max_pending: int, max_uncommitted: int, batch_size: int) -> None:
        if max_pending < 1 or max_uncommitted < 1 or batch_size < 1:
            raise ValueError("max_pending, max_uncommitted and batch_size must be at least 1")
        self._max_pending = max_pending
        self._low_pending = max_pending // 2
        self._max_uncommitted = max_uncommitted
        self._low_uncommitted = max_uncommitted // 2
        self._batch_size = batch_size
        #: Under pressure: ``max_pending`` was reached and has not drained to half yet.
        self.held = False
        #: Under pressure, and nothing was fetchable for longer than the stall timeout:
        #: the partitions that may not be fetched are paused.
        self.stalled = False
        #: The fetch loop waits in :meth:`wait_for_room`.
        self.waiting = False
        self._share = max_pending
        self._parked = 0
        self._room = asyncio.Event()

    def hold(self, pending: int) -> bool:
        """Whether the source is under pressure, with ``pending`` deliveries in the lanes."""
        if self.held:
            self.held = pending > self._low_pending
        else:
            self.held = pending >= self._max_pending
        if not self.held:
            self.stalled = False
        return self.held

    def plan(
        self, consumer: Any, states: Collection[PartitionState], pending: int, parked: int = 0
    ) -> tuple[list[Any] | None, int]:
        """What the next ``getmany`` may take: the partitions (``None``: every one not
        paused) and how many records (``0``: nothing now), with ``pending``
        deliveries in the lanes, ``parked`` of them behind a key being retried
        (``state.parked`` per partition). Pauses and resumes partitions of
        ``consumer`` on the way."""
        if parked > self._max_uncommitted:  # past the bound they count like the rest
            parked = 0
            for state in states:
                state.parked = 0
        self._parked = parked
        pending -= parked
        held = self.hold(pending)
        share = self._share = max(1, self._max_pending // max(1, len(states)))
        stall = held and self.stalled
        pause: list[Any] = []
        resume: list[Any] = []
        fetchable: list[Any] = []
        fullest = 0
        for state in states:
            uncommitted = state.offsets.outstanding
            full = uncommitted >= self._max_uncommitted or (
                state.full and uncommitted > self._low_uncommitted
            )
            state.full = full
            eligible = not full and (not held or 2 * (state.pending - state.parked) < share)
            wanted = full or (stall and not eligible)
            if wanted != state.paused:
                state.paused = wanted
                (pause if wanted else resume).append(state.tp)
            if eligible:
                fetchable.append(state.tp)
                fullest = max(fullest, state.pending - state.parked)
        try:
            if pause:
                consumer.pause(*pause)
            if resume:
                consumer.resume(*resume)
        except IllegalStateError:  # revoked meanwhile: the next assignment starts unpaused
            logger.debug("pause/resume of a partition no longer assigned", exc_info=True)
        if not fetchable:
            return None, 0
        if not held:  # the partitions not fetchable are paused: fetch from all the others
            return None, max(1, min(self._max_pending - pending, self._batch_size))
        # Under pressure: each fetched partition may grow to its share, not past it.
        return fetchable, max(1, min(share - fullest, self._batch_size))

    def finished(self, state: PartitionState, pending: int) -> None:
        """For each finished delivery while :attr:`waiting`: wake the loop when it may go on."""
        if self._room.is_set():  # already woken: nothing to add
            return
        if self.held:
            # ``_parked`` and ``state.parked`` are from the last plan: a recovered key
            # makes them too high, which only wakes the loop early.
            pending -= self._parked
            if pending <= self._low_pending or (
                not state.full and 2 * (state.pending - state.parked) < self._share
            ):
                self._room.set()
        elif state.offsets.outstanding <= self._low_uncommitted:
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

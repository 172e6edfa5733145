"""Batched, serial Kafka offset commits: :class:`Committer`.

One commit request carries every partition that made progress. Commits never
overlap (a lock), so a slow commit cannot be overtaken by an older position.
A position is one past the last message below which every fetched message
finished (:class:`~cqrs_worker.worker.offsets.PartitionOffsets`), so a commit
never passes unfinished work.

A commit that fails (the group is rebalancing, the coordinator moved, the
cluster is unreachable) is logged and tried again with the next one: the
messages stay uncommitted meanwhile and would be redelivered, never lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata

from cqrs_worker.worker.kafka.partition import PartitionState

__all__ = ["Committer"]

logger = logging.getLogger(__name__)


class Committer:
    """Commits the progress of :class:`PartitionState` objects through ``consumer``.

    :meth:`run` commits whenever :meth:`wake` was called (after each fetch
    round) and at least every ``interval`` seconds when there is progress;
    :meth:`commit` commits given partitions now (on revoke and shutdown).
    Each commit request is bounded by ``timeout`` seconds.
    """

    def __init__(
        self,
        consumer: Any,
        partitions: Callable[[], Iterable[PartitionState]],
        *,
        interval: float = 1.0,
        timeout: float = 10.0,
    ) -> None:
        self._consumer = consumer
        self._partitions = partitions
        self._interval = interval
        self._timeout = timeout
        self._lock = asyncio.Lock()
        self._wanted = asyncio.Event()
        self._closed = False
        #: Commit requests that failed since start-up (for tests and metrics).
        self.failures = 0
        #: Commit requests sent and confirmed.
        self.commits = 0

    def wake(self) -> None:
        """Ask :meth:`run` for a commit soon."""
        self._wanted.set()

    async def run(self) -> None:
        """Commit on :meth:`wake` or every ``interval`` seconds, until :meth:`close`."""
        while not self._closed:
            # asyncio.timeout, not wait_for: Python 3.11's wait_for loses a
            # cancellation that arrives as the event fires.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._wanted.wait()
            self._wanted.clear()
            if not self._closed:
                await self.commit(self._partitions())

    def close(self) -> None:
        """Let :meth:`run` return (after the commit under way, if any)."""
        self._closed = True
        self._wanted.set()

    async def commit(self, states: Iterable[PartitionState]) -> bool:
        """Commit the progress of ``states`` in one request; ``False`` if it failed."""
        async with self._lock:
            positions = [(state, state.to_commit()) for state in states]
            due = [(state, position) for state, position in positions if position is not None]
            if not due:
                return True
            offsets = {state.tp: OffsetAndMetadata(position, "") for state, position in due}
            try:
                async with asyncio.timeout(self._timeout):
                    await self._consumer.commit(offsets)
            except (KafkaError, TimeoutError) as exc:
                self.failures += 1
                logger.warning(
                    "committing offsets of %d partition(s) failed (%s: %s); "
                    "they will be committed with the next commit or redelivered",
                    len(offsets),
                    type(exc).__name__,
                    exc,
                )
                return False
            self.commits += 1
            now = time.monotonic()
            for state, position in due:
                state.committed = position
                state.committed_at = now
            return True

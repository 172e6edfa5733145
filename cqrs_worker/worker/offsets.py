"""Which Kafka offset may be committed: :class:`PartitionOffsets`.

Messages of a partition finish out of order (different keys run
concurrently). The committable position is one past the highest offset below
which *every* fetched message finished: a commit never passes unfinished
work.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

__all__ = ["PartitionOffsets"]


class PartitionOffsets:
    """Tracks fetched and finished offsets of one partition."""

    __slots__ = ("_done", "_fetched", "committable")

    def __init__(self) -> None:
        self._fetched: deque[int] = deque()
        self._done: set[int] = set()
        #: The position to commit (next offset to read), or None if nothing finished yet.
        self.committable: int | None = None

    def fetched(self, offset: int) -> None:
        """Record a fetched offset; offsets arrive in increasing order."""
        self._fetched.append(offset)

    def fetched_all(self, offsets: Iterable[int]) -> None:
        """Record fetched offsets, in increasing order, in one call (a fetched batch)."""
        self._fetched.extend(offsets)

    def finished(self, offset: int) -> None:
        """Record that the message at ``offset`` is finished (handled or dead-lettered)."""
        fetched = self._fetched
        if fetched and fetched[0] == offset:
            fetched.popleft()
            position = offset + 1
            done = self._done
            while fetched and fetched[0] in done:
                position = fetched.popleft() + 1
                done.discard(position - 1)
            self.committable = position
        else:
            self._done.add(offset)

    def finished_tags(self) -> frozenset[int]:
        """Offsets finished past the committable position (behind an unfinished one)."""
        return frozenset(self._done)

    @property
    def unfinished(self) -> int:
        return len(self._fetched) - len(self._done)

    @property
    def outstanding(self) -> int:
        """Fetched messages past the committable position, finished or not."""
        return len(self._fetched)

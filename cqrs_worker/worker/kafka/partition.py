"""One assigned Kafka partition as the source sees it: :class:`PartitionState`."""

from __future__ import annotations

import time
from typing import Any

from cqrs_worker.worker.offsets import PartitionOffsets

__all__ = ["PartitionState"]


class PartitionState:
    """Offsets fetched and finished, and what was committed, for one assignment of a partition.

    A fresh state is made every time the partition is assigned; a revoked
    state is dropped, so completions that arrive late can never advance the
    commit of a later assignment (every delivery carries the state it was
    fetched under).
    """

    __slots__ = (
        "committed",
        "committed_at",
        "full",
        "offsets",
        "parked",
        "paused",
        "pending",
        "revoked",
        "start",
        "tp",
    )

    def __init__(self, tp: Any) -> None:
        #: The aiokafka ``TopicPartition``.
        self.tp = tp
        self.offsets = PartitionOffsets()
        #: The last position committed from this state (``None``: nothing yet).
        self.committed: int | None = None
        #: When ``committed`` was last confirmed (``time.monotonic``; the assignment until then).
        self.committed_at = time.monotonic()
        #: The first offset fetched under this assignment: the group's position when it began.
        self.start: int | None = None
        #: Deliveries of this partition queued or running (the flow control's share).
        self.pending = 0
        #: Of those, queued behind a key being retried (counted before each fetch).
        self.parked = 0
        #: Past the uncommitted bound, until half of it is committable.
        self.full = False
        #: Paused in the consumer (full, or stalled under pressure).
        self.paused = False
        self.revoked = False

    def to_commit(self) -> int | None:
        """The position to commit now, or ``None`` when there is no progress to commit."""
        position = self.offsets.committable
        if position is None or position == self.committed:
            return None
        return position

    def lag(self, end: int | None) -> int | None:
        """Messages between the committed position and ``end`` (the high watermark), if known."""
        if end is None:
            return None
        position = self.committed if self.committed is not None else self.start
        if position is None:  # nothing fetched yet although the fetch reached the end
            return 0
        return max(0, end - position)

    @property
    def uncommitted(self) -> int:
        """Messages fetched and not yet committable (running, waiting or finished after a gap)."""
        return self.offsets.outstanding

    def __repr__(self) -> str:
        return f"<PartitionState {self.tp.topic}[{self.tp.partition}] committed={self.committed}>"

"""Holding back delayed retry topics until their records are due: :class:`DueGate`.

A record of a retry topic carries ``x-retry-due-at``. Every record of one
retry topic waits the same delay, so each of its partitions is in due order:
the first record not yet due means none after it is due either. The gate
cuts the fetched batch there, seeks that partition back to the record and
pauses it; once the record is due the partition is resumed and fetched
again. Nothing waits in memory or in a handler slot, nothing of it is
counted as in flight, and every other partition (of the retry topic and of
the main topics) keeps flowing.
"""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from aiokafka.errors import IllegalStateError

from cqrs_worker.worker.kafka.partition import PartitionState
from cqrs_worker.worker.retry_stages import DUE_AT

__all__ = ["DueGate"]

logger = logging.getLogger(__name__)

_DUE_AT = DUE_AT


class DueGate:
    """Pauses a partition of the retry ``topics`` until its next record is due."""

    def __init__(self, topics: Iterable[str], *, clock: Callable[[], float] = time.time) -> None:
        self._topics = frozenset(topics)
        self._clock = clock  # wall clock: due times come from another process's header
        #: Held partitions and when (``time.time()``) their first record is due.
        self._held: dict[Any, float] = {}

    @property
    def held(self) -> int:
        """Partitions held back now."""
        return len(self._held)

    def admit(
        self, consumer: Any, batch: Mapping[Any, Sequence[Any]]
    ) -> Mapping[Any, Sequence[Any]]:
        """The part of a ``getmany`` result that is due; holds back the rest."""
        topics = self._topics
        cut: dict[Any, Sequence[Any]] | None = None
        now = self._clock()
        for tp, records in batch.items():
            if tp.topic not in topics:
                continue
            index, due = _first_not_due(records, now)
            if due is None:
                continue
            try:
                consumer.seek(tp, records[index].offset)
                consumer.pause(tp)
            except IllegalStateError:  # revoked meanwhile: the next owner starts at the commit
                pass
            self._held[tp] = due
            cut = dict(batch) if cut is None else cut
            if index:
                cut[tp] = records[:index]
            else:
                del cut[tp]
        return batch if cut is None else cut

    def release(self, consumer: Any, partitions: Mapping[Any, PartitionState]) -> float | None:
        """Resume the partitions now due; the seconds until the next one is (``None``: none held).

        A partition that flow control paused meanwhile stays paused: flow
        control resumes it, and the gate holds it again if it is not due yet.
        """
        held = self._held
        if not held:
            return None
        now = self._clock()
        for tp in [tp for tp, due in held.items() if due <= now]:
            del held[tp]
            state = partitions.get(tp)
            if state is None or state.paused:
                continue
            try:
                consumer.resume(tp)
            except IllegalStateError:  # revoked meanwhile
                logger.debug("resume of a retry partition no longer assigned", exc_info=True)
        return min(held.values()) - now if held else None


def _first_not_due(records: Sequence[Any], now: float) -> tuple[int, float | None]:
    """The index of the first record due after ``now`` and when it is due (``None``: all due)."""
    for index, record in enumerate(records):
        due = _due(record)
        if due is not None and due > now:
            return index, due
    return len(records), None


def _due(record: Any) -> float | None:
    for name, value in record.headers:
        if name == _DUE_AT:
            try:
                return datetime.datetime.fromisoformat(value.decode()).timestamp()
            except (ValueError, UnicodeDecodeError, AttributeError):
                return None  # not ours to judge: handle it now
    return None

"""The partitions this member owns and their deliveries: :class:`Assignment`.

Fetched records become deliveries in the lanes the
:class:`~cqrs_worker.worker.ordering.LaneChooser` picks (``ORDERING``): by
default ``(topic, partition, key)``, and a record without a key goes to the
``(topic, partition)`` lane, so keyless records keep partition order. Every delivery carries the
:class:`~cqrs_worker.worker.kafka.partition.PartitionState` it was fetched
under, so its completion advances that state's offsets and nothing else.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any

from cqrs_worker.worker.delivery import Delivery
from cqrs_worker.worker.kafka.flow import FlowControl
from cqrs_worker.worker.kafka.partition import PartitionState
from cqrs_worker.worker.lanes import Lanes
from cqrs_worker.worker.ordering import LaneChooser
from cqrs_worker.worker.pipeline import Pipeline

__all__ = ["Assignment"]

_EVENT_NAME = "event_name"

#: How often a revoke looks whether the revoked partitions have drained.
_DRAIN_POLL = 0.02


class Assignment:
    """Partition states and the lanes their deliveries run in.

    ``idle`` is called when the last pending delivery finished (the source
    commits then rather than at its next fetch round).
    """

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        concurrency: int,
        flow: FlowControl,
        idle: Callable[[], None],
        lanes: LaneChooser | None = None,
    ) -> None:
        self.partitions: dict[Any, PartitionState] = {}
        self.lanes = Lanes(pipeline, self._finished, concurrency=concurrency)
        self._flow = flow
        self._idle = idle
        self._choose = lanes if lanes is not None else LaneChooser()

    def states(self) -> list[PartitionState]:
        return list(self.partitions.values())

    def assign(self, tps: Iterable[Any]) -> None:
        """Fresh states for newly assigned partitions (aiokafka starts them at their commit)."""
        for tp in tps:
            if tp not in self.partitions:
                self.partitions[tp] = PartitionState(tp)

    async def revoke(
        self, tps: Iterable[Any], drain_timeout: float
    ) -> tuple[list[PartitionState], int, int]:
        """Stop the deliveries of ``tps``: let the queued and running ones finish within
        ``drain_timeout`` seconds, then drop what is still queued and cancel what is
        still running (never acknowledged).

        Queued deliveries are drained too, not dropped at once: dropping an
        earlier offset while a later one of the same partition already finished
        would hold the commit below the finished one, and the next owner would
        handle the finished one again.

        Returns the revoked states (their finished prefix is still to be
        committed), how many deliveries were dropped and how many cancelled.
        """
        states = [state for tp in tps if (state := self.partitions.pop(tp, None)) is not None]
        if not states:
            return [], 0, 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + drain_timeout
        # Other partitions keep flowing meanwhile, so the lanes never go idle:
        # look at the revoked partitions' own trackers, briefly and bounded.
        while any(s.offsets.outstanding for s in states) and loop.time() < deadline:  # noqa: ASYNC110 - bounded poll of trackers that have no event of their own
            await asyncio.sleep(_DRAIN_POLL)
        for state in states:
            state.revoked = True
        dropped = self.lanes.discard(_revoked)
        cancelled = await self.lanes.finish(_revoked, max(0.0, deadline - loop.time()))
        return states, dropped, cancelled

    def count_parked(self) -> int:
        """Set each partition's ``parked``: deliveries queued behind a key being retried
        (its running delivery failed at least once); returns their total."""
        for state in self.partitions.values():
            state.parked = 0
        total = 0
        for head, count in self.lanes.waiting_behind():
            if head.first_failure_at is not None:
                origin: PartitionState = head.origin
                origin.parked += count
                total += count
        return total

    def dispatch(
        self, batch: Mapping[Any, Sequence[Any]], received: Callable[[str, int], None]
    ) -> None:
        """Submit the records of a ``getmany`` result; ``received(topic, count)`` counts them."""
        submit = self.lanes.submit
        choose = self._choose
        # The default ordering inline: the same lanes as choose() gives, one call fewer per record.
        by_key = choose.by_record_key
        for tp, records in batch.items():
            state = self.partitions.get(tp)
            if state is None:  # revoked while this fetch was under way
                continue
            if state.start is None:
                state.start = records[0].offset
            state.offsets.fetched_all([record.offset for record in records])
            state.pending += len(records)
            topic, partition = tp.topic, tp.partition
            scope = (topic, partition)
            for record in records:
                body = record.value or b""
                event_name = None
                for header, value in record.headers:
                    if header == _EVENT_NAME:
                        try:  # noqa: SIM105 - per record: suppress() would cost a context manager
                            event_name = value.decode()
                        except (UnicodeDecodeError, AttributeError):  # the body may name it
                            pass
                        break
                key = record.key
                lane: Hashable
                if by_key:
                    lane = scope if key is None else (topic, partition, key)
                else:
                    lane = choose(scope, key, body)
                submit(
                    Delivery(
                        body,
                        event_name,
                        lane,
                        record,
                        state,
                        destination=topic,
                    )
                )
            received(topic, len(records))

    def _finished(self, delivery: Delivery) -> None:
        state: PartitionState = delivery.origin
        state.offsets.finished(delivery.raw.offset)
        state.pending -= 1
        pending = self.lanes.pending
        if self._flow.waiting:
            self._flow.finished(state, pending)
        if not pending:
            self._idle()


def _revoked(delivery: Delivery) -> bool:
    state: PartitionState = delivery.origin
    return state.revoked

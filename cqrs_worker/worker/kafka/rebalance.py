"""The consumer-group rebalance hooks: :class:`RebalanceListener`.

aiokafka awaits :meth:`RebalanceListener.on_partitions_revoked` before it
rejoins the group (so commits made there are the last word on those
partitions) and :meth:`on_partitions_assigned` once the new assignment is in
place. The revoke hook must return within the group's rebalance timeout, or
the member is dropped from the generation and rejoins once more.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import ConsumerRebalanceListener

__all__ = ["RebalanceListener"]

logger = logging.getLogger(__name__)

PartitionsHook = Callable[[frozenset[Any]], Awaitable[None]]


class RebalanceListener(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    """Forwards revocations and assignments to the source's hooks.

    ``joining`` is true from the first revoke call of a group join (aiokafka
    calls it, with nothing to revoke, before it first joins) until the first
    assignment: start-up errors use it to tell "cannot connect" from "cannot
    join the group".
    """

    def __init__(self, *, revoked: PartitionsHook, assigned: PartitionsHook) -> None:
        self._revoked = revoked
        self._assigned = assigned
        self.joining = False
        self.joined = False

    async def on_partitions_revoked(self, revoked: Any) -> None:
        self.joining = True
        if revoked:
            logger.info("partitions revoked: %s", _describe(revoked))
            await self._revoked(frozenset(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self.joined = True
        logger.info("partitions assigned: %s", _describe(assigned) or "none")
        await self._assigned(frozenset(assigned))


def _describe(partitions: Any) -> str:
    by_topic: dict[str, list[int]] = {}
    for tp in partitions:
        by_topic.setdefault(tp.topic, []).append(tp.partition)
    return ", ".join(f"{topic}{sorted(parts)}" for topic, parts in sorted(by_topic.items()))

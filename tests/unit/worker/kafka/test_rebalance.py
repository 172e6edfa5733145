"""``RebalanceListener`` forwards revocations and assignments and tracks the join."""

from __future__ import annotations

from typing import Any

from aiokafka import TopicPartition

from cqrs_worker.worker.kafka.rebalance import RebalanceListener


async def test_hooks_get_the_partitions_and_the_join_is_tracked() -> None:
    calls: list[tuple[str, frozenset[Any]]] = []

    async def revoked(tps: frozenset[Any]) -> None:
        calls.append(("revoked", tps))

    async def assigned(tps: frozenset[Any]) -> None:
        calls.append(("assigned", tps))

    listener = RebalanceListener(revoked=revoked, assigned=assigned)
    tp = TopicPartition("t", 0)

    await listener.on_partitions_revoked(set())  # aiokafka's call before the first join
    assert listener.joining
    assert not listener.joined
    assert calls == []

    await listener.on_partitions_assigned({tp})
    await listener.on_partitions_revoked({tp})

    assert listener.joined
    assert calls == [("assigned", frozenset({tp})), ("revoked", frozenset({tp}))]

"""A running worker counts each delivery under exactly one outcome, with its labels."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from cqrs_worker.brokers import OutgoingMessage
from cqrs_worker.worker.app import Worker
from tests.unit.worker.sample import Journal, mediator, placed
from tests.unit.worker.test_app import Memory, settings

UNKNOWN = (
    b'{"event_name": "Nobody", "event_id": "00000000-0000-0000-0000-000000000001",'
    b' "event_timestamp": "2026-01-01T00:00:00Z", "topic": "orders", "payload": {}}'
)


async def test_every_delivery_has_one_outcome_and_handled_excludes_dead_letters() -> None:
    memory = Memory()
    await memory.broker.start()
    worker = Worker(
        mediator(Journal()),
        settings(max_attempts=3, retry_initial_delay=0.001, retry_max_delay=0.002),
        sources=[memory],
    )

    async with worker.running():
        [source] = memory.sources
        for n in range(3):
            source.put(OutgoingMessage.from_event(placed(n)))
        source.put(OutgoingMessage.from_event(placed(3, fail=2)))  # handled on attempt 3
        source.put(OutgoingMessage.from_event(placed(4, fail=-1)))  # dead-lettered after 3
        source.put(OutgoingMessage("orders", b"not json", headers={"event_name": "OrderPlaced"}))
        source.put(OutgoingMessage("orders", UNKNOWN))  # no header: the name is in the body
        await source.wait_acked(7, timeout=10)
        text = worker.metrics()

    stats = worker.stats
    assert stats.received_by == {"orders": 7}
    assert stats.outcomes == {
        ("orders", "OrderPlaced", "handled"): 4,
        ("orders", "OrderPlaced", "dead_lettered"): 2,
        ("orders", "Nobody", "unknown"): 1,
    }
    assert (stats.handled, stats.dead_lettered, stats.unknown) == (4, 2, 1)
    assert stats.dead_letters == {
        ("orders", "OrderPlaced", "handler-failed"): 1,
        ("orders", "OrderPlaced", "not-json"): 1,
    }
    assert stats.retries == {("orders", "OrderPlaced", "error"): 4}
    families = {f.name: f for f in text_string_to_metric_families(text)}
    [count] = [
        s
        for s in families["cqrs_worker_handler_duration_seconds"].samples
        if s.name.endswith("_count")
    ]
    assert count.labels == {"event_name": "OrderPlaced"}
    assert count.value == 3 + 3 + 3  # every attempt: 3 good, 3 for #3, 3 for #4
    assert len(stats.in_flight) == 0

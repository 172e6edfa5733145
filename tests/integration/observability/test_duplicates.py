"""Duplicates come from the inbox: with it on PostgreSQL, the same event id delivered twice
counts once as handled and once as ``outcome="duplicate"``."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from cqrs_worker.observability.worker_collector import exposition, worker_registry
from tests.integration.inbox.conftest import make_engine
from tests.support.names import unique_name
from tests.unit.inbox.scenario import harness, joined


async def test_the_same_event_id_twice_is_one_handled_and_one_duplicate(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    try:
        async with harness(engine, unique_name("m").replace("-", "_")[-20:]) as h:
            event = joined("ann")
            h.put(event)
            h.put(event)  # the same event id: the inbox recorded it already
            await h.source.wait_acked(2, timeout=30)
            text = exposition(worker_registry(h.stats, list))[0].decode()
    finally:
        await engine.dispose()

    assert h.stats.outcomes == {
        ("users", "UserJoined", "handled"): 1,
        ("users", "UserJoined", "duplicate"): 1,
    }
    [family] = [f for f in text_string_to_metric_families(text) if f.name == "cqrs_worker_messages"]
    assert {s.labels["outcome"]: s.value for s in family.samples} == {
        "handled": 1.0,
        "duplicate": 1.0,
    }

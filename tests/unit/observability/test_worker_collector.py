"""The worker's Prometheus families: names, HELP, types, labels, values and content type."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from cqrs_worker.observability import SourceGauges, WorkerStats
from cqrs_worker.observability.worker_collector import exposition, worker_registry
from cqrs_worker.worker.delivery import Delivery
from tests.unit.worker.sample import placed

#: name -> (type, labels): exactly the families the brief names, nothing else.
FAMILIES = {
    "cqrs_worker_messages_received": ("counter", {"destination"}),
    "cqrs_worker_messages": ("counter", {"destination", "event_name", "outcome"}),
    "cqrs_worker_dead_letters": ("counter", {"destination", "event_name", "reason"}),
    "cqrs_worker_retries": ("counter", {"destination", "event_name", "reason"}),
    "cqrs_worker_delayed_retries": ("counter", {"destination", "event_name", "stage"}),
    "cqrs_worker_handler_duration_seconds": ("histogram", {"event_name"}),
    "cqrs_worker_in_flight": ("gauge", set()),
    "cqrs_worker_queued": ("gauge", set()),
    "cqrs_worker_oldest_in_flight_seconds": ("gauge", set()),
    "cqrs_worker_consumer_lag": ("gauge", {"topic", "partition"}),
    "cqrs_worker_commit_age_seconds": ("gauge", {"topic", "partition"}),
    "cqrs_worker_rebalances": ("counter", set()),
    "cqrs_worker_rabbitmq_unacked": ("gauge", {"queue"}),
    "cqrs_worker_rabbitmq_redelivered": ("counter", {"queue"}),
    "cqrs_worker_ready": ("gauge", {"source"}),
}


class KafkaLike:
    """A source as the collector sees one: a name, readiness and gauges."""

    name = "kafka"

    def __init__(self, gauges: SourceGauges | None = None, *, fail: bool = False) -> None:
        self._gauges = gauges or SourceGauges()
        self._fail = fail

    def ready(self) -> bool:
        return True

    def gauges(self) -> SourceGauges:
        if self._fail:
            raise RuntimeError("consumer gone")
        return self._gauges


def delivery(topic: str = "orders") -> Delivery:
    d = Delivery(b"{}", None, None, destination=topic)
    d.event = placed(1)
    return d


def busy_stats() -> WorkerStats:
    stats = WorkerStats()
    stats.add_received("orders", 3)
    stats.finished(delivery(), "handled")
    stats.finished(delivery(), "dead_lettered")
    stats.dead_letter(delivery(), "handler-failed")
    stats.retry(delivery(), "timeout")
    stats.finished(delivery(), "delayed")
    stats.delayed(delivery(), 2)
    stats.add_redelivered("shop.orders")
    stats.rebalances = 2
    stats.durations.observe("OrderPlaced", 0.003)
    stats.durations.observe("OrderPlaced", 7.0)
    return stats


def scrape(stats: WorkerStats, *sources: object) -> dict[str, object]:
    body, _ = exposition(worker_registry(stats, lambda: sources))
    return {family.name: family for family in text_string_to_metric_families(body.decode())}


def test_exactly_the_named_families_with_help_type_and_labels() -> None:
    gauges = SourceGauges(
        queued=4, lag={("orders", 0): 7}, commit_age={("orders", 0): 1.5}, unacked={"q": 2}
    )
    families = scrape(busy_stats(), KafkaLike(gauges))

    assert sorted(families) == sorted(FAMILIES)
    for name, family in families.items():
        kind, labels = FAMILIES[name]
        assert family.type == kind, name  # type: ignore[attr-defined]
        assert family.documentation, f"{name} has no HELP"  # type: ignore[attr-defined]
        for sample in family.samples:  # type: ignore[attr-defined]
            assert set(sample.labels) - {"le"} == labels, (name, sample)


def test_values_come_from_the_counters_and_the_sources() -> None:
    gauges = SourceGauges(
        queued=4, lag={("orders", 0): 7}, commit_age={("orders", 0): 1.5}, unacked={"q": 2}
    )
    text = exposition(worker_registry(busy_stats(), lambda: [KafkaLike(gauges)]))[0].decode()

    for line in [
        'cqrs_worker_messages_received_total{destination="orders"} 3.0',
        'cqrs_worker_messages_total{destination="orders",event_name="OrderPlaced",'
        'outcome="handled"} 1.0',
        'cqrs_worker_messages_total{destination="orders",event_name="OrderPlaced",'
        'outcome="dead_lettered"} 1.0',
        'cqrs_worker_dead_letters_total{destination="orders",event_name="OrderPlaced",'
        'reason="handler-failed"} 1.0',
        'cqrs_worker_retries_total{destination="orders",event_name="OrderPlaced",'
        'reason="timeout"} 1.0',
        'cqrs_worker_messages_total{destination="orders",event_name="OrderPlaced",'
        'outcome="delayed"} 1.0',
        'cqrs_worker_delayed_retries_total{destination="orders",event_name="OrderPlaced",'
        'stage="2"} 1.0',
        'cqrs_worker_handler_duration_seconds_bucket{event_name="OrderPlaced",le="0.005"} 1.0',
        'cqrs_worker_handler_duration_seconds_bucket{event_name="OrderPlaced",le="10.0"} 2.0',
        'cqrs_worker_handler_duration_seconds_bucket{event_name="OrderPlaced",le="+Inf"} 2.0',
        'cqrs_worker_handler_duration_seconds_count{event_name="OrderPlaced"} 2.0',
        'cqrs_worker_handler_duration_seconds_sum{event_name="OrderPlaced"} 7.003',
        "cqrs_worker_queued 4.0",
        'cqrs_worker_consumer_lag{partition="0",topic="orders"} 7.0',
        'cqrs_worker_commit_age_seconds{partition="0",topic="orders"} 1.5',
        "cqrs_worker_rebalances_total 2.0",
        'cqrs_worker_rabbitmq_unacked{queue="q"} 2.0',
        'cqrs_worker_rabbitmq_redelivered_total{queue="shop.orders"} 1.0',
        'cqrs_worker_ready{source="kafka"} 1.0',
    ]:
        assert line in text.splitlines(), line


def test_served_with_the_prometheus_text_content_type() -> None:
    _, content_type = exposition(worker_registry(WorkerStats(), list))

    assert content_type.startswith("text/plain; version=")
    assert "charset=utf-8" in content_type


def test_attempts_in_flight_and_the_oldest_age() -> None:
    stats = WorkerStats()
    stats.in_flight.start(delivery(), 0.0)  # perf_counter zero: long ago

    families = scrape(stats)

    [in_flight] = families["cqrs_worker_in_flight"].samples  # type: ignore[attr-defined]
    [oldest] = families["cqrs_worker_oldest_in_flight_seconds"].samples  # type: ignore[attr-defined]
    assert in_flight.value == 1
    assert oldest.value > 0


def test_a_source_whose_gauges_fail_does_not_fail_the_scrape() -> None:
    families = scrape(WorkerStats(), KafkaLike(fail=True))

    assert [s.value for s in families["cqrs_worker_ready"].samples] == [1.0]  # type: ignore[attr-defined]
    assert families["cqrs_worker_consumer_lag"].samples == []  # type: ignore[attr-defined]


def test_names_of_events_nobody_handles_are_capped() -> None:
    stats = WorkerStats()
    for n in range(150):
        stats.finished(Delivery(b"", f"Foreign{n}", None, destination="orders"), "unknown")

    names = {name for _, name, _ in stats.outcomes}
    assert len(names) == 101
    assert "other" in names
    assert stats.unknown == 150

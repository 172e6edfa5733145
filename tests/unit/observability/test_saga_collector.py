from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from cqrs_worker.observability.saga_collector import SagaCollector
from cqrs_worker.observability.saga_stats import SagaStats


def test_sagas_by_status_and_step_durations_with_help() -> None:
    stats = SagaStats()
    stats.by_status = {("order", "completed"): 7, ("order", "failed"): 1}
    stats.step_finished("order", "ship", 0.3)
    stats.step_finished("order", "ship", 2.0)
    registry = CollectorRegistry()
    registry.register(SagaCollector(stats))
    text = generate_latest(registry).decode()
    assert "# HELP cqrs_worker_sagas Sagas in the saga table" in text
    assert 'cqrs_worker_sagas{definition="order",status="completed"} 7.0' in text
    assert 'cqrs_worker_sagas{definition="order",status="running"} 0.0' in text
    assert 'cqrs_worker_sagas{definition="order",status="failed"} 1.0' in text
    assert "# HELP cqrs_worker_saga_step_duration_seconds" in text
    assert (
        'cqrs_worker_saga_step_duration_seconds_count{definition="order",step="ship"} 2.0' in text
    )
    assert (
        'cqrs_worker_saga_step_duration_seconds_bucket{definition="order",le="0.5",step="ship"} 1.0'
        in text
    )

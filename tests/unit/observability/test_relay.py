"""RelayMetrics: families, counts, and the table gauges kept when the database is away."""

from __future__ import annotations

import datetime
from pathlib import Path

import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import create_async_engine

from cqrs_worker.observability.relay import RelayMetrics
from cqrs_worker.outbox import OutboxRepository, OutboxStats, RelayReadiness, outbox_table
from tests.unit.outbox.conftest import moved


def samples(metrics: RelayMetrics) -> dict[str, float]:
    out = {}
    for family in text_string_to_metric_families(metrics.exposition()[0].decode()):
        assert family.documentation, f"{family.name} has no HELP"
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            out[sample.name + (f"{{{labels}}}" if labels else "")] = sample.value
    return out


def test_counts_what_the_observer_is_told() -> None:
    readiness = RelayReadiness()
    metrics = RelayMetrics(readiness)
    metrics.claimed(10, 0.002)
    metrics.published(10, 0.03)
    metrics.publish_failed(5, 1.5)
    metrics.publish_failed(1, None)  # an unreadable row: no broker call
    got = samples(metrics)
    assert got["cqrs_worker_outbox_published_total"] == 10
    assert got["cqrs_worker_outbox_publish_failures_total"] == 6
    assert got["cqrs_worker_outbox_publish_duration_seconds_count"] == 2
    assert got["cqrs_worker_outbox_claim_duration_seconds_count"] == 1
    assert got["cqrs_worker_relay_ready{dependency=database}"] == 0
    assert got["cqrs_worker_relay_ready{dependency=broker}"] == 0
    assert "cqrs_worker_outbox_pending_rows" not in got  # nothing read yet: no made-up zero


def test_readiness_gauges_follow_the_relay() -> None:
    readiness = RelayReadiness()
    metrics = RelayMetrics(readiness)
    readiness.up("database")
    readiness.up("broker")
    got = samples(metrics)
    assert got["cqrs_worker_relay_ready{dependency=database}"] == 1
    assert got["cqrs_worker_relay_ready{dependency=broker}"] == 1
    readiness.down("broker", "timed out")
    assert samples(metrics)["cqrs_worker_relay_ready{dependency=broker}"] == 0
    readiness.up("broker")
    readiness.stopping()
    assert samples(metrics)["cqrs_worker_relay_ready{dependency=database}"] == 0


def test_oldest_pending_age_grows_between_reads() -> None:
    metrics = RelayMetrics(RelayReadiness())
    written = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=90)
    metrics.stats = OutboxStats(pending=3, failed=1, oldest_pending_at=written)
    got = samples(metrics)
    assert got["cqrs_worker_outbox_pending_rows"] == 3
    assert got["cqrs_worker_outbox_failed_rows"] == 1
    assert 90 <= got["cqrs_worker_outbox_oldest_pending_age_seconds"] < 120
    metrics.stats = OutboxStats(pending=0, failed=0, oldest_pending_at=None)
    assert samples(metrics)["cqrs_worker_outbox_oldest_pending_age_seconds"] == 0


async def test_refresh_reads_the_table_and_keeps_the_last_counts_when_it_cannot(
    tmp_path: Path,
) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}")
    metadata = sa.MetaData()
    repository = OutboxRepository(outbox_table(metadata, name="outbox"))
    metrics = RelayMetrics(RelayReadiness())
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            await repository.add_many(conn, [moved(n) for n in range(4)])
        assert await metrics.refresh(engine, repository, timeout=5)
        assert samples(metrics)["cqrs_worker_outbox_pending_rows"] == 4
        async with engine.begin() as conn:
            await conn.run_sync(metadata.drop_all)  # reads fail from now on
        assert not await metrics.refresh(engine, repository, timeout=5)
        assert samples(metrics)["cqrs_worker_outbox_pending_rows"] == 4
    finally:
        await engine.dispose()

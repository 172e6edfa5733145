"""Batch handlers in real ``cqrs-worker run`` processes on Tansu: every event handled
exactly once, a poison event dead-lettered alone, batches received, every offset committed."""

from __future__ import annotations

from pathlib import Path

from tests.integration.worker.batch_rig import EVENTS, check_exactly_once, events, start, wait_done
from tests.support.kafka import FAST_GROUP_SETTINGS, committed_offsets, create_topic, publish_events
from tests.support.processes import ProcessSet


async def test_kafka_batches_handle_each_event_once_and_commit_everything(
    kafka_bootstrap: str, topic_name: str, group_id: str, processes: ProcessSet, tmp_path: Path
) -> None:
    await create_topic(kafka_bootstrap, topic_name, 2)
    await publish_events(kafka_bootstrap, events(topic_name))  # queued before the worker runs
    out = tmp_path / "handled.txt"
    worker = start(
        processes,
        out,
        {
            "CQRS_WORKER_KAFKA_BOOTSTRAP": kafka_bootstrap,
            "CQRS_WORKER_GROUP_ID": group_id,
            "CQRS_WORKER_TOPICS": topic_name,
            "CQRS_WORKER_KAFKA_IDEMPOTENCE": "false",
            "CQRS_WORKER_SESSION_TIMEOUT_MS": str(FAST_GROUP_SETTINGS["session_timeout_ms"]),
            "CQRS_WORKER_HEARTBEAT_INTERVAL_MS": str(FAST_GROUP_SETTINGS["heartbeat_interval_ms"]),
        },
    )

    await wait_done(out, worker, EVENTS - 1, timeout=90)
    await worker.await_line("dead-lettering Counted", timeout=30)
    worker.terminate()

    assert await worker.wait_async(30) == 0
    check_exactly_once(out, worker.output())
    committed = await committed_offsets(kafka_bootstrap, group_id, topic_name, 2)
    assert sum(offset or 0 for offset in committed.values()) == EVENTS

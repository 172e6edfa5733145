"""The user test kit: publish, wait, inspect handled events and dead letters."""

from __future__ import annotations

import pytest

from cqrs_worker.testing import run_worker_in_memory
from tests.unit.worker.sample import Journal, mediator, placed


async def test_publish_then_wait_handled() -> None:
    journal = Journal()

    async with run_worker_in_memory(mediator(journal)) as harness:
        await harness.publish(placed(1), placed(2, key="k"), placed(3, key="k"))
        finished = await harness.wait_handled(3)

    assert sorted(journal.handled) == [1, 2, 3]
    assert len(finished) == 3
    assert harness.stats.received == 3
    assert harness.dead_letters() == []


async def test_failures_are_retried_then_dead_lettered_with_headers() -> None:
    journal = Journal()

    async with run_worker_in_memory(mediator(journal), max_attempts=3) as harness:
        await harness.publish(placed(1, fail=1), placed(2, fail=-1))
        await harness.publish_raw(b"not json", topic="orders", headers={"event_name": "X"})
        await harness.wait_handled(3)

    assert journal.handled == [1]
    reasons = sorted(m.headers["x-dlq-reason"] for m in harness.dead_letters("orders"))
    assert reasons == ["handler-failed", "not-json"]
    assert harness.stats.dead_lettered == 2
    assert harness.stats.retried == 3


async def test_the_environment_does_not_leak_into_the_harness(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CQRS_WORKER_MAX_ATTEMPTS", "9")
    monkeypatch.setenv("CQRS_WORKER_HEALTH_PORT", "1")

    async with run_worker_in_memory(mediator()) as harness:
        assert harness.worker.settings.max_attempts == 5
        assert harness.worker.settings.health_port == 0


async def test_wait_handled_times_out_saying_how_many_finished() -> None:
    async with run_worker_in_memory(mediator()) as harness:
        await harness.publish(placed(1))
        with pytest.raises(TimeoutError, match="1 of 2 messages were acknowledged"):
            await harness.wait_handled(2, timeout=0.2)


async def test_the_public_names() -> None:
    import cqrs_worker.testing as testing

    assert testing.__all__ == ["WorkerHarness", "run_worker_in_memory"]

"""``cqrs-worker relay`` serves health and metrics: scraped numbers match what happened exactly.

A real relay process on PostgreSQL and Kafka (Tansu). The table holds good
rows, three unreadable ones (they fail on their first attempt with
``--max-attempts 1``) and two good rows behind each unreadable one's key,
which stay pending while it is failed. Once the relay has done all it can,
``/metrics`` must say so to the row, and its pending count must be the one
``cqrs-worker outbox status`` prints.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from cqrs_worker.worker.health import probe
from examples.outbox_write import OrderPlaced, Placed, Schema
from tests.contract.brokers.harness import kafka_grants_producer_ids
from tests.integration.outbox.scrape import Scrape, scrape
from tests.support.kafka import create_topic
from tests.support.names import unique_name
from tests.support.net import LOOPBACK, free_port
from tests.support.processes import REPO_ROOT, ProcessSet

GOOD = 250
UNREADABLE = 3
BLOCKED_PER_KEY = 2

RELAY_FAMILIES = {
    "cqrs_worker_outbox_pending_rows",
    "cqrs_worker_outbox_oldest_pending_age_seconds",
    "cqrs_worker_outbox_failed_rows",
    "cqrs_worker_outbox_published",
    "cqrs_worker_outbox_publish_failures",
    "cqrs_worker_outbox_publish_duration_seconds",
    "cqrs_worker_outbox_claim_duration_seconds",
    "cqrs_worker_relay_ready",
}


def order(n: int, key: str) -> OrderPlaced:
    return OrderPlaced(payload=Placed(order_id=key, total=n), partition_key=key)


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cqrs_worker.cli", *args],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.timeout(180)
async def test_scraped_relay_metrics_match_the_table_and_outbox_status(
    postgres_url: str, kafka_bootstrap: str, processes: ProcessSet
) -> None:
    prefix = unique_name("met").replace("-", "_")[:30]
    schema = Schema(prefix)
    repository = schema.outbox
    engine = create_async_engine(postgres_url)
    topic = await create_topic(kafka_bootstrap, unique_name("orders"), 2)
    port = free_port()
    env = {
        "EXAMPLE_DATABASE_URL": postgres_url,
        "EXAMPLE_KAFKA": kafka_bootstrap,
        "EXAMPLE_PREFIX": prefix,
        "EXAMPLE_KAFKA_IDEMPOTENT": "1" if kafka_grants_producer_ids() else "0",
    }
    try:
        await schema.create(engine)
        async with engine.begin() as conn:
            bad = []
            for i in range(UNREADABLE):
                row = repository.row(order(i, f"bad{i}").model_copy(update={"topic": topic}))
                bad.append({**row, "payload": b"not zlib", "payload_encoding": "zlib"})
            await conn.execute(sa.insert(repository.table), bad)
            await repository.add_many(
                conn,
                [
                    order(n, f"bad{i}").model_copy(update={"topic": topic})
                    for i in range(UNREADABLE)
                    for n in range(BLOCKED_PER_KEY)
                ],
            )
            await repository.add_many(
                conn,
                [order(n, f"k{n % 17}").model_copy(update={"topic": topic}) for n in range(GOOD)],
            )
        relay = processes.start_python(
            [
                "-m",
                "cqrs_worker.cli",
                "relay",
                "examples.outbox_relay_kafka:build",
                "--factory",
                "--batch-size",
                "40",
                "--max-attempts",
                "1",
                "--health-port",
                str(port),
            ],
            name="relay",
            env={
                **env,
                "CQRS_WORKER_RELAY_HEALTH_HOST": LOOPBACK,
                "CQRS_WORKER_RELAY_METRICS_INTERVAL": "0.2",
            },
        )
        await relay.await_line("relaying outbox table", timeout=60)
        expected = {
            "cqrs_worker_outbox_published_total": GOOD,
            "cqrs_worker_outbox_publish_failures_total": UNREADABLE,
            "cqrs_worker_outbox_failed_rows": UNREADABLE,
            "cqrs_worker_outbox_pending_rows": UNREADABLE * BLOCKED_PER_KEY,
        }
        last: Scrape = Scrape()

        async def settled() -> bool:
            nonlocal last
            last = await scrape(port)
            return all(last.get(name) == value for name, value in expected.items())

        await _wait(settled, timeout=60, message=lambda: f"{expected} not in {dict(last)}")
        await asyncio.sleep(0.5)  # nothing more happens: the numbers stay put
        samples = await scrape(port)
        assert {name: samples.get(name) for name in expected} == expected

        assert set(samples.helps) >= RELAY_FAMILIES, set(samples.helps)
        assert all(samples.helps[name] for name in RELAY_FAMILIES), samples.helps
        assert samples.get_value("cqrs_worker_relay_ready", dependency="database") == 1
        assert samples.get_value("cqrs_worker_relay_ready", dependency="broker") == 1
        assert samples["cqrs_worker_outbox_oldest_pending_age_seconds"] > 0
        assert samples["cqrs_worker_outbox_claim_duration_seconds_count"] >= GOOD / 40
        publishes = samples["cqrs_worker_outbox_publish_duration_seconds_count"]
        assert GOOD / 40 <= publishes <= GOOD / 40 + UNREADABLE + 2

        status = cli("outbox", "status", "examples.outbox_relay_kafka:build", "--factory", env=env)
        assert status.returncode == 0, status.stderr
        assert f"pending: {UNREADABLE * BLOCKED_PER_KEY}\n" in status.stdout
        assert f"failed: {UNREADABLE}\n" in status.stdout

        check = cli("check", "--port", str(port), env={})
        assert check.returncode == 0, check.stderr
        assert cli("check", "--live", "--port", str(port), env={}).returncode == 0
        assert (await asyncio.to_thread(probe, LOOPBACK, port, "/readyz"))[0] == 200

        relay.terminate()
        assert await relay.wait_async(timeout=30) == 0, relay.tail()
        assert cli("check", "--port", str(port), env={}).returncode == 1  # nobody answers
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(schema.metadata.drop_all)
        await engine.dispose()


async def _wait(
    condition: Callable[[], Awaitable[bool]], *, timeout: float, message: Callable[[], str]
) -> None:
    """Poll ``condition`` (a scrape: nothing to wait on) until it holds, under a deadline."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                if await condition():
                    return
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise TimeoutError(f"after {timeout}s: {message()}") from None

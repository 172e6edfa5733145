"""The issue's scenario on real brokers: a failing handler dead-letters events, the fix is
deployed, ``cqrs-worker dlq replay`` has each handled exactly once with the inbox on
(PostgreSQL), and a second replay changes nothing.

The worker is a real ``cqrs-worker run`` process (tests/integration/dlq/app.py); every
``dlq`` command runs as the real CLI.
"""

from __future__ import annotations

import aio_pika
import pytest

from cqrs_worker.brokers import AMQPMessageBroker, OutgoingMessage
from tests.integration.dlq.app import Signup, SignupPayload
from tests.integration.dlq.conftest import Rig
from tests.support.kafka import FAST_GROUP_SETTINGS, create_topic, publish_events

EXCEPTION = "tests.integration.dlq.app.BrokenUntilFixed"


def _events(topic: str) -> list[Signup]:
    ok = [Signup(topic=topic, payload=SignupPayload(user=f"ok-{i}")) for i in range(6)]
    bad = [Signup(topic=topic, payload=SignupPayload(user=f"bad-{i}", fail=True)) for i in range(4)]
    return ok + bad


async def _dead_lettered(rig: Rig) -> None:
    async def recorded() -> bool:
        return (await rig.inbox()) == {"handled": 6, "dead-lettered": 4}

    await rig.wait("6 handled and 4 dead-lettered inbox records", recorded)
    assert set(await rig.effects()) == {f"ok-{i}" for i in range(6)}


def _check_stats_and_show(rig: Rig, name: str, origin_header: str, origin: str) -> None:
    stats = rig.dlq("stats", name, "--json").json_lines()[0]
    assert stats["total"] == 4
    assert stats["by_reason"] == {"handler-failed": 4}
    assert stats["by_event_name"] == {"Signup": 4}
    assert stats["by_exception_type"] == {EXCEPTION: 4}
    assert stats["oldest"] <= stats["newest"]
    shown = rig.dlq("show", name, "-n", "2", "--json").json_lines()
    assert len(shown) == 2
    for letter in shown:
        assert letter["headers"][origin_header] == origin
        assert letter["headers"]["x-dlq-attempts"] == "2"
        assert "BrokenUntilFixed" in letter["headers"]["x-dlq-exception-stacktrace"]
        assert letter["event_id"] in letter["body"]
    text = rig.dlq("show", name, "-n", "1").stdout
    assert "reason: handler-failed" in text
    assert "x-dlq-exception-stacktrace:" in text


async def _replayed_once(rig: Rig) -> None:
    async def all_handled() -> bool:
        return (await rig.inbox()) == {"handled": 10}

    await rig.wait("every inbox record handled", all_handled)
    effects = await rig.effects()
    assert sum(effects.values()) == 10, effects
    assert set(effects.values()) == {1}, effects


@pytest.mark.timeout(240)
async def test_kafka_dead_letters_replayed_once_and_a_second_replay_adds_nothing(
    rig: Rig, kafka_bootstrap: str
) -> None:
    topic = await create_topic(kafka_bootstrap, f"dlq-scenario-{rig.suffix}", 2)
    await create_topic(kafka_bootstrap, f"{topic}.dlq", 2)
    rig.start_worker(
        {
            "CQRS_WORKER_KAFKA_BOOTSTRAP": kafka_bootstrap,
            "CQRS_WORKER_GROUP_ID": f"dlq-scenario-{rig.suffix}",
            "CQRS_WORKER_TOPICS": topic,
            "CQRS_WORKER_KAFKA_IDEMPOTENCE": "false",  # Tansu grants no producer ids
            "CQRS_WORKER_SESSION_TIMEOUT_MS": str(FAST_GROUP_SETTINGS["session_timeout_ms"]),
            "CQRS_WORKER_HEARTBEAT_INTERVAL_MS": str(FAST_GROUP_SETTINGS["heartbeat_interval_ms"]),
        }
    )
    rig.cli_env = {
        "CQRS_WORKER_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "CQRS_WORKER_KAFKA_IDEMPOTENCE": "false",
    }
    await publish_events(kafka_bootstrap, _events(topic))
    await _dead_lettered(rig)
    _check_stats_and_show(rig, topic, "x-dlq-original-topic", topic)

    assert "would replay 4" in rig.dlq("replay", topic, "--dry-run").stdout
    rig.fixed.touch()  # the fix is deployed (the running handler checks for it)
    assert "replayed 4" in rig.dlq("replay", topic).stdout
    await _replayed_once(rig)

    # The replay mark: a second replay sends nothing.
    assert "replayed 0" in rig.dlq("replay", topic).stdout
    # Sent again anyway (--from-beginning): the inbox has them as handled.
    assert "replayed 4" in rig.dlq("replay", topic, "--from-beginning").stdout
    await rig.wait_duplicates(4)
    assert (await rig.inbox()) == {"handled": 10}
    assert set((await rig.effects()).values()) == {1}


@pytest.mark.timeout(240)
async def test_rabbitmq_dead_letters_replayed_once_and_a_second_replay_adds_nothing(
    rig: Rig, rabbitmq_url: str
) -> None:
    exchange, queue, key = (f"dlq-{part}-{rig.suffix}" for part in ("ex", "q", "rk"))
    rig.start_worker(
        {
            "CQRS_WORKER_RABBITMQ_URL": rabbitmq_url,
            "CQRS_WORKER_RABBITMQ_EXCHANGE": exchange,
            "CQRS_WORKER_QUEUES": queue,
            "CQRS_WORKER_TOPICS": key,
        }
    )
    rig.cli_env = {"CQRS_WORKER_RABBITMQ_URL": rabbitmq_url}
    try:
        publisher = AMQPMessageBroker(rabbitmq_url, exchange=exchange)
        await publisher.start()
        try:
            await publisher.publish([OutgoingMessage.from_event(e) for e in _events(key)])
        finally:
            await publisher.close()
        await _dead_lettered(rig)

        letters = rig.dlq("show", queue, "-n", "10", "--json").json_lines()
        order = [m["event_id"] for m in letters]
        _check_stats_and_show(rig, queue, "x-dlq-original-queue", queue)
        again = [m["event_id"] for m in rig.dlq("show", queue, "-n", "10", "--json").json_lines()]
        assert len(order) == 4
        assert again == order, "show/stats give every message back, in order"

        assert "would replay 4" in rig.dlq("replay", queue, "--dry-run").stdout
        rig.fixed.touch()
        assert "replayed 4" in rig.dlq("replay", queue).stdout
        await _replayed_once(rig)
        assert "replayed 0" in rig.dlq("replay", queue).stdout, "the dead-letter queue is empty"

        # The same replayed copies delivered again: duplicates for the inbox.
        await _publish_replayed_copies(rabbitmq_url, queue, [m["body"] for m in letters])
        await rig.wait_duplicates(4)
        assert (await rig.inbox()) == {"handled": 10}
        assert set((await rig.effects()).values()) == {1}
    finally:
        await _delete(rabbitmq_url, [queue, f"{queue}.dlq"], [exchange, f"{exchange}.dlx"])


async def _publish_replayed_copies(url: str, queue: str, bodies: list[str]) -> None:
    """``bodies`` again, marked as a replay, straight to ``queue`` (a replay delivered twice)."""
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        for body in bodies:
            message = aio_pika.Message(
                body.encode(), headers={"x-dlq-replayed-at": "2026-01-01T00:00:00+00:00"}
            )
            await channel.default_exchange.publish(message, routing_key=queue)
    finally:
        await connection.close()


async def _delete(url: str, queues: list[str], exchanges: list[str]) -> None:
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        for name in queues:
            await channel.queue_delete(name)
        for name in exchanges:
            await channel.exchange_delete(name)
    finally:
        await connection.close()

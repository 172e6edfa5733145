"""A real ``cqrs-worker run`` on Kafka (Tansu), scraped after a run with retries, dead
letters, an unknown event and a hung handler: every count is exactly what happened."""

from __future__ import annotations

import pytest

from cqrs_worker.brokers import KafkaMessageBroker, OutgoingMessage, kafka_producer_factory
from cqrs_worker.worker.health import probe
from tests.integration.observability.app import HANG, RUN
from tests.integration.observability.scrape import Samples, matching, scrape, value
from tests.support.kafka import FAST_GROUP_SETTINGS, create_topic
from tests.support.net import free_port
from tests.support.processes import ProcessSet
from tests.support.waiting import async_wait_until
from tests.unit.worker.sample import placed

UNKNOWN = (
    b'{"event_name": "Nobody", "event_id": "00000000-0000-0000-0000-000000000001",'
    b' "event_timestamp": "2026-01-01T00:00:00Z", "topic": "orders", "payload": {}}'
)
STUCK_AFTER = 1.0
TIMEOUT = 6.0


def messages(topic: str) -> list[OutgoingMessage]:
    def on(event: object) -> OutgoingMessage:
        return OutgoingMessage.from_event(event.model_copy(update={"topic": topic}))  # type: ignore[attr-defined]

    return (
        [on(placed(n, key=f"k{n % 5}")) for n in range(20)]  # handled at once
        + [on(placed(100 + n, key=f"f{n}", fail=1)) for n in range(3)]  # one retry each
        + [on(placed(200 + n, key=f"d{n}", fail=-1)) for n in range(2)]  # dead-lettered
        + [on(placed(HANG, key="hang"))]  # hangs, times out, handled on attempt 2
        + [OutgoingMessage(topic, b"not json", headers={"event_name": "OrderPlaced"})]
        + [OutgoingMessage(topic, UNKNOWN)]  # python-cqrs style: the name only in the body
    )


@pytest.mark.timeout(240)
async def test_a_kafka_worker_counts_exactly_what_happened_and_flags_a_hung_handler(
    kafka_bootstrap: str, topic_name: str, group_id: str, processes: ProcessSet
) -> None:
    await create_topic(kafka_bootstrap, topic_name, 2)
    port = free_port()
    worker = processes.start_python(
        [
            *RUN,
            *("--kafka-bootstrap", kafka_bootstrap, "--group-id", group_id, "--topics", topic_name),
            *("--health-port", str(port), "--health-host", "127.0.0.1", "--no-kafka-idempotence"),
            *["--max-attempts", "3", "--retry-initial-delay", "0.01", "--retry-max-delay", "0.05"],
            *("--handler-timeout", str(TIMEOUT), "--liveness-stuck-after", str(STUCK_AFTER)),
        ],
        name="worker",
        env={
            "CQRS_WORKER_SESSION_TIMEOUT_MS": str(FAST_GROUP_SETTINGS["session_timeout_ms"]),
            "CQRS_WORKER_HEARTBEAT_INTERVAL_MS": str(FAST_GROUP_SETTINGS["heartbeat_interval_ms"]),
        },
    )
    await worker.await_line(rf"running: sources kafka, topics {topic_name}", timeout=60)
    await async_wait_until(lambda: get(port, "/readyz")[0] == 200, timeout=60)
    broker = KafkaMessageBroker(kafka_producer_factory(kafka_bootstrap, enable_idempotence=False))
    await broker.start()
    await broker.publish(messages(topic_name))
    await broker.close()

    # The hung attempt turns /livez red once it ran past LIVENESS_STUCK_AFTER ...
    await async_wait_until(lambda: get(port, "/livez")[0] == 503, timeout=TIMEOUT + 30)
    status, body = get(port, "/livez")
    if status == 503:  # unless the timeout already struck on a very slow machine
        assert "a handling attempt of OrderPlaced has run for" in body
    # ... and green again once HANDLER_TIMEOUT cancelled it and the retry succeeded.
    await async_wait_until(lambda: get(port, "/livez")[0] == 200, timeout=TIMEOUT + 30)

    def settled() -> bool:
        _, samples = scrape(port)
        lags = matching(samples, "cqrs_worker_consumer_lag")
        finished = sum(matching(samples, "cqrs_worker_messages_total").values())
        return finished == 28 and len(lags) == 2 and set(lags.values()) == {0.0}

    await async_wait_until(settled, timeout=60, interval=0.2, message=lambda: str(scrape(port)))
    content_type, samples = scrape(port)

    assert content_type.startswith("text/plain; version=")
    assert_counts(samples, topic_name)
    worker.terminate()
    assert await worker.wait_async(30) == 0
    assert "handled=24, retried=8, dead_lettered=3, unknown=1, duplicates=0" in worker.output()


def assert_counts(samples: Samples, topic: str) -> None:
    name = "OrderPlaced"
    assert value(samples, "cqrs_worker_messages_received_total", destination=topic) == 28
    assert matching(samples, "cqrs_worker_messages_total") == {
        labels(destination=topic, event_name=name, outcome="handled"): 20 + 3 + 1,
        labels(destination=topic, event_name=name, outcome="dead_lettered"): 2 + 1,
        labels(destination=topic, event_name="Nobody", outcome="unknown"): 1,
    }
    assert matching(samples, "cqrs_worker_dead_letters_total") == {
        labels(destination=topic, event_name=name, reason="handler-failed"): 2,
        labels(destination=topic, event_name=name, reason="not-json"): 1,
    }
    assert matching(samples, "cqrs_worker_retries_total") == {
        labels(destination=topic, event_name=name, reason="error"): 3 * 1 + 2 * 2,
        labels(destination=topic, event_name=name, reason="timeout"): 1,
    }
    attempts = 20 + 3 * 2 + 2 * 3 + 2
    assert value(samples, "cqrs_worker_handler_duration_seconds_count", event_name=name) == attempts
    over_timeout = value(
        samples, "cqrs_worker_handler_duration_seconds_bucket", event_name=name, le="5.0"
    )
    assert over_timeout == attempts - 1  # the hung attempt ran until the timeout
    assert value(samples, "cqrs_worker_in_flight") == 0
    assert value(samples, "cqrs_worker_queued") == 0
    assert value(samples, "cqrs_worker_oldest_in_flight_seconds") == 0
    assert set(matching(samples, "cqrs_worker_consumer_lag")) == {
        labels(topic=topic, partition="0"),
        labels(topic=topic, partition="1"),
    }
    assert len(matching(samples, "cqrs_worker_commit_age_seconds")) == 2
    assert (value(samples, "cqrs_worker_rebalances_total") or 0) >= 1
    assert value(samples, "cqrs_worker_ready", source="kafka") == 1
    assert matching(samples, "cqrs_worker_rabbitmq_unacked") == {}


def labels(**values: str) -> frozenset[tuple[str, str]]:
    return frozenset(values.items())


def get(port: int, path: str) -> tuple[int, str]:
    return probe("127.0.0.1", port, path, timeout=5)

"""Delayed retry topics on a real Kafka-protocol broker, with a real ``cqrs-worker run``.

Two in-place attempts per stage, then ``<topic>.retry.1s``, then
``<topic>.retry.2s``, then ``<topic>.dlq``. The worker logs when each attempt
started (:mod:`tests.integration.worker.delayed_app`), so the delays are
measured on the worker's own clock.
"""

from __future__ import annotations

import pytest

from cqrs_worker.brokers import KafkaMessageBroker, OutgoingMessage, kafka_producer_factory
from tests.integration.worker.delayed_app import (
    SETTINGS,
    assert_stages_kept_time_and_order_let_go,
    handled,
    job,
)
from tests.integration.worker.kafka.harness import MakeRig
from tests.support.kafka import FAST_GROUP_SETTINGS, create_topic
from tests.support.processes import ProcessSet
from tests.support.waiting import async_wait_until

pytestmark = pytest.mark.timeout(150)


async def test_a_failing_job_waits_on_its_retry_topics_while_the_rest_flows_then_dead_letters(
    make_rig: MakeRig, processes: ProcessSet
) -> None:
    rig = await make_rig(2)
    topic = rig.topic
    for label in ("1s", "2s"):
        await create_topic(rig.bootstrap, f"{topic}.retry.{label}", 2)
    worker = processes.start_python(
        [
            "-m",
            "cqrs_worker.cli",
            "run",
            "tests.integration.worker.delayed_app:mediator",
            "--factory",
            "--kafka-bootstrap",
            rig.bootstrap,
            "--group-id",
            rig.group,
            "--topics",
            topic,
            "--no-kafka-idempotence",
        ],
        name="worker",
        env={
            **SETTINGS,
            "CQRS_WORKER_SESSION_TIMEOUT_MS": str(FAST_GROUP_SETTINGS["session_timeout_ms"]),
            "CQRS_WORKER_HEALTH_PORT": "0",
            "CQRS_WORKER_HEARTBEAT_INTERVAL_MS": str(FAST_GROUP_SETTINGS["heartbeat_interval_ms"]),
        },
    )
    await worker.await_line(f"consuming {topic}, {topic}.retry.1s, {topic}.retry.2s", timeout=60)

    # Job 1 fails twice in place, then succeeds from the 1 s stage. Jobs 2 (same
    # key, so same partition, after it) and 3 do not wait for it. Job 99 always fails.
    # One producer for the whole test: the jobs published during a stage's delay
    # go out at once, not after a producer's start-up.
    producer = KafkaMessageBroker(kafka_producer_factory(rig.bootstrap, enable_idempotence=False))
    await producer.start()
    publish = producer.publish
    await publish(
        [
            OutgoingMessage.from_event(job(topic, 1, key="a", fail=2)),
            OutgoingMessage.from_event(job(topic, 2, key="a")),
            OutgoingMessage.from_event(job(topic, 3, key="b")),
            OutgoingMessage.from_event(job(topic, 99, key="z", fail=-1)),
        ]
    )
    # While job 99 waits on the 2 s stage, new jobs of its key and others flow.
    await worker.await_line(r"moving JobPlaced to retry stage 2 \(2s\) after 4 attempt", 60)
    await publish(
        [OutgoingMessage.from_event(job(topic, n, key=k)) for n, k in ((4, "z"), (5, "a"))]
    )
    await producer.close()
    await worker.await_line("dead-lettering JobPlaced after 6 attempt", timeout=60)
    await async_wait_until(
        lambda: {1, 2, 3, 4, 5} <= set(handled(worker.output())),
        timeout=30,
        message="every other job handled",
    )
    [dead] = await rig.read(rig.dlq, 1)
    worker.terminate()
    assert await worker.wait_async(30) == 0

    output = worker.output()
    print("measured:", assert_stages_kept_time_and_order_let_go(output))

    headers = {name: value.decode() for name, value in dead.headers}
    assert headers["x-dlq-reason"] == "handler-failed"
    assert headers["x-dlq-attempts"] == "6"
    assert headers["x-dlq-retry-stages"] == "1s,2s"
    assert headers["x-dlq-original-topic"] == topic
    assert not [name for name in headers if name.startswith("x-retry-")]  # a replay starts over
    assert b'"n":99' in dead.value
    assert "worker stopped; stats: received=9, handled=5, retried=4, dead_lettered=1" in output
    assert "moved=3" in output

"""python-cqrs 5.3 features through ``cqrs-worker run`` on Tansu.

Concurrent event handlers (``max_concurrent_event_handlers=3``): three
handlers napping 0.3 s finish one event in well under the 0.9 s they take in
turn, and a failing one is still reported and retried. Dataclass events: a
python-cqrs producer's envelope (camelCase, no name header) is decoded into
the ``DCNotificationEvent`` subclass the worker binds.
"""

from __future__ import annotations

import dataclasses

import cqrs
from aiokafka import AIOKafkaProducer
from cqrs.serializers.default import default_serializer

from cqrs_worker.brokers import KafkaMessageBroker, OutgoingMessage, kafka_producer_factory
from tests.integration.worker.pycqrs_app import HANDLERS, NAP, Job, JobQueued, spans
from tests.support.kafka import FAST_GROUP_SETTINGS, create_topic
from tests.support.processes import ManagedProcess, ProcessSet
from tests.support.waiting import async_wait_until

SETTINGS = {
    "CQRS_WORKER_MAX_ATTEMPTS": "3",
    "CQRS_WORKER_RETRY_INITIAL_DELAY": "0.01",
    "CQRS_WORKER_RETRY_MAX_DELAY": "0.05",
    "CQRS_WORKER_HEALTH_PORT": "0",
    "CQRS_WORKER_SHUTDOWN_TIMEOUT": "5",
    "CQRS_WORKER_SESSION_TIMEOUT_MS": str(FAST_GROUP_SETTINGS["session_timeout_ms"]),
    "CQRS_WORKER_HEARTBEAT_INTERVAL_MS": str(FAST_GROUP_SETTINGS["heartbeat_interval_ms"]),
}


@dataclasses.dataclass(frozen=True)
class TheirParcel:
    order_id: str
    weight_grams: int


def start_worker(
    processes: ProcessSet, bootstrap: str, topic: str, group_id: str
) -> ManagedProcess:
    return processes.start_python(
        [
            "-m",
            "cqrs_worker.cli",
            "run",
            "tests.integration.worker.pycqrs_app:mediator",
            "--factory",
            "--kafka-bootstrap",
            bootstrap,
            "--group-id",
            group_id,
            "--topics",
            topic,
            "--no-kafka-idempotence",
        ],
        name="worker",
        env=SETTINGS,
    )


async def test_handlers_of_one_event_run_concurrently_and_a_failure_is_retried(
    kafka_bootstrap: str, topic_name: str, group_id: str, processes: ProcessSet
) -> None:
    await create_topic(kafka_bootstrap, topic_name, 1)
    worker = start_worker(processes, kafka_bootstrap, topic_name, group_id)
    await worker.await_line("running: sources kafka", timeout=60)
    broker = KafkaMessageBroker(kafka_producer_factory(kafka_bootstrap, enable_idempotence=False))
    await broker.start()
    try:
        await broker.publish(
            [
                OutgoingMessage.from_event(
                    JobQueued(payload=Job(n=n, fail=n == 2), topic=topic_name, partition_key="k")
                )
                for n in (1, 2, 3)
            ]
        )
    finally:
        await broker.close()
    await async_wait_until(
        lambda: (
            all(len(spans(worker.output()).get(n, [])) >= 6 for n in (1, 3))
            and len(spans(worker.output()).get(2, [])) >= 12
        ),
        timeout=60,
        message="every handler ran for jobs 1 and 3, and twice for job 2",
    )
    worker.terminate()
    assert await worker.wait_async(30) == 0
    output = worker.output()

    marks = spans(output)
    for n in (1, 3):
        assert sorted(h for what, h, _ in marks[n] if what == "end") == sorted(HANDLERS)
        times = [at for _, _, at in marks[n]]
        # In turn the three naps take 3 * NAP = 0.9 s; together about one NAP.
        assert max(times) - min(times) < 2.5 * NAP, marks[n]
    # Job 2: Audit failed on the first attempt; all three ran again and succeeded.
    assert [h for what, h, _ in marks[2] if what == "end"].count("Audit") == 2
    assert "audit of job 2 failed on attempt 1" in output
    assert "attempt 1 of JobQueued failed (Audit: RuntimeError: audit of job 2" in output
    assert "worker stopped; stats: received=3, handled=3, retried=1, dead_lettered=0" in output


async def test_a_python_cqrs_dataclass_event_is_handled_as_the_bound_dataclass(
    kafka_bootstrap: str, topic_name: str, group_id: str, processes: ProcessSet
) -> None:
    await create_topic(kafka_bootstrap, topic_name, 1)
    worker = start_worker(processes, kafka_bootstrap, topic_name, group_id)
    await worker.await_line("running: sources kafka", timeout=60)
    theirs = cqrs.NotificationEvent[TheirParcel](
        event_name="ParcelShipped",
        topic=topic_name,
        payload=TheirParcel(order_id="o-9", weight_grams=1200),
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=False)
    await producer.start()
    try:  # as python-cqrs sends it: its serializer, no event_name header
        await producer.send_and_wait(topic_name, bytes(default_serializer(theirs)))
    finally:
        await producer.stop()

    await worker.await_line(
        "parcel o-9 of 1200 g arrived as ParcelShipped with a Parcel payload", timeout=60
    )
    worker.terminate()
    assert await worker.wait_async(30) == 0
    assert (
        "worker stopped; stats: received=1, handled=1, retried=0, dead_lettered=0"
        in worker.output()
    )

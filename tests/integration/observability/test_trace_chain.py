"""One trace: outbox -> relay -> Kafka -> worker -> handler -> outbox -> relay -> RabbitMQ.

The test process writes ``UserJoined`` to the users service's outbox inside a
span of its own (no HTTP: a plain producer). Four real processes, each with an
SDK tracer provider writing spans to a JSON-lines file
(:mod:`tests.integration.observability.traced_apps`), carry it on: a relay to
Kafka (Tansu), the meetings worker (which sends ``JoinMeeting`` and writes
``ParticipantAdded`` to its outbox), the meetings relay to RabbitMQ, and the
notifier consuming from RabbitMQ. Every span shares the producer's trace id,
and each is the child of the one before.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from opentelemetry import trace
from sqlalchemy.ext.asyncio import create_async_engine

from consumers.meetings.events import Participant, UserJoined
from consumers.meetings.schema import Schema
from tests.integration.observability.traced_apps import users_outbox
from tests.support.kafka import FAST_GROUP_SETTINGS, create_topic
from tests.support.names import unique_name
from tests.support.processes import ProcessSet
from tests.support.tracing import SpanRecord, read_spans, use_provider
from tests.support.waiting import async_wait_until

APPS = "tests.integration.observability.traced_apps"


@pytest.mark.timeout(180)
async def test_one_trace_from_the_producer_to_the_notifier(
    kafka_bootstrap: str,
    rabbitmq_url: str,
    postgres_url: str,
    processes: ProcessSet,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, exporter = use_provider(monkeypatch)
    prefix = unique_name("trace").replace("-", "_")[:30]
    users_topic = await create_topic(kafka_bootstrap, unique_name("users"), 2)
    routing_key = unique_name("participants")
    exchange = unique_name("meetings")
    meetings_group = unique_name("meetings")
    schema = Schema(prefix)
    users = users_outbox(prefix)
    engine = create_async_engine(postgres_url)
    files = {
        name: tmp_path / f"{name}.jsonl"
        for name in ("users-relay", "meetings", "meetings-relay", "notifier")
    }
    common = {
        "MEETINGS_DATABASE_URL": postgres_url,
        "MEETINGS_PREFIX": prefix,
        "MEETINGS_PARTICIPANTS_TOPIC": routing_key,
        "MEETINGS_AMQP": rabbitmq_url,
        "MEETINGS_EXCHANGE": exchange,
        "TRACES_KAFKA": kafka_bootstrap,
        "CQRS_WORKER_HEALTH_PORT": "0",
        "CQRS_WORKER_RELAY_HEALTH_PORT": "0",  # two relays here; neither may take 8081
        "CQRS_WORKER_SHUTDOWN_TIMEOUT": "5",
    }
    run = ["-m", "cqrs_worker.cli", "run", "--factory"]
    relay = ["-m", "cqrs_worker.cli", "relay", "--factory"]
    try:
        await schema.create(engine)
        async with engine.begin() as conn:
            await conn.run_sync(users.table.metadata.create_all)
        notifier = processes.start_python(
            [*run, f"{APPS}:notifier"],
            name="notifier",
            env={
                **common,
                "TRACES_FILE": str(files["notifier"]),
                "CQRS_WORKER_RABBITMQ_URL": rabbitmq_url,
                "CQRS_WORKER_RABBITMQ_EXCHANGE": exchange,
                "CQRS_WORKER_GROUP_ID": unique_name("notifier"),
                "CQRS_WORKER_TOPICS": routing_key,
            },
        )
        meetings = processes.start_python(
            [*run, f"{APPS}:meetings_worker"],
            name="meetings",
            env={
                **common,
                "TRACES_FILE": str(files["meetings"]),
                "CQRS_WORKER_KAFKA_BOOTSTRAP": kafka_bootstrap,
                "CQRS_WORKER_GROUP_ID": meetings_group,
                "CQRS_WORKER_TOPICS": users_topic,
                "CQRS_WORKER_KAFKA_IDEMPOTENCE": "false",
                "CQRS_WORKER_SESSION_TIMEOUT_MS": str(FAST_GROUP_SETTINGS["session_timeout_ms"]),
                "CQRS_WORKER_HEARTBEAT_INTERVAL_MS": str(
                    FAST_GROUP_SETTINGS["heartbeat_interval_ms"]
                ),
            },
        )
        relays = [
            processes.start_python(
                [*relay, f"{APPS}:{target}"],
                name=name,
                env={**common, "TRACES_FILE": str(files[name])},
            )
            for name, target in (
                ("users-relay", "users_relay"),
                ("meetings-relay", "meetings_relay"),
            )
        ]
        notifier.wait_for_line("running", timeout=60)  # its queue is bound before anything flows
        for process in relays:
            process.wait_for_line("relaying outbox table", timeout=60)
        meetings.wait_for_line("running", timeout=60)

        joined = UserJoined(
            topic=users_topic,
            partition_key="user-1",
            payload=Participant(user="user-1", meeting="m-1"),
        )
        with trace.get_tracer("signup").start_as_current_span("sign up user") as root:
            async with engine.begin() as conn:
                await users.add(conn, joined)
        trace_id = f"{root.get_span_context().trace_id:032x}"

        def notified() -> bool:
            for process in processes:
                assert process.running, f"{process.describe()} exited:\n{process.tail()}"
            return any(s.kind == "CONSUMER" for s in read_spans(files["notifier"]))

        await async_wait_until(
            notified,
            timeout=90,
            interval=0.1,
            message=lambda: (
                "no notifier span within 90 s; spans so far:\n"
                + _describe(read_spans(*files.values()))
            ),
        )
    finally:
        processes.stop_all()
        async with engine.begin() as conn:
            await conn.run_sync(schema.metadata.drop_all)
            await conn.run_sync(users.table.metadata.drop_all)
        await engine.dispose()

    spans = read_spans(*files.values())
    (producer,) = [s for s in exporter.get_finished_spans() if s.name == "sign up user"]
    assert {s.trace_id for s in spans} == {trace_id}, _describe(spans)

    def only(service: str, kind: str) -> SpanRecord:
        (found,) = [s for s in spans if s.service == service and s.kind == kind]
        return found

    to_kafka = only("users-relay", "PRODUCER")
    consumed = only("meetings", "CONSUMER")
    to_rabbitmq = only("meetings-relay", "PRODUCER")
    notified_span = only("notifier", "CONSUMER")
    chain = [to_kafka, consumed, to_rabbitmq, notified_span]
    assert producer.context is not None
    assert to_kafka.parent_span_id == f"{producer.context.span_id:016x}"
    for parent, child in itertools.pairwise(chain):
        assert child.parent_span_id == parent.span_id, _describe(spans)

    assert to_kafka.name == f"send {users_topic}"
    assert consumed.name == f"process {users_topic}"
    assert to_rabbitmq.name == f"publish {exchange}:{routing_key}"
    assert notified_span.name.startswith(f"process {exchange}:{routing_key}")
    assert consumed.attributes["messaging.system"] == "kafka"
    assert consumed.attributes["messaging.consumer.group.name"] == meetings_group
    assert consumed.attributes["messaging.kafka.message.key"] == "user-1"
    assert consumed.attributes["messaging.message.id"] == str(joined.event_id)
    assert consumed.attributes["cqrs_worker.event_name"] == "UserJoined"
    assert consumed.attributes["cqrs_worker.outcome"] == "handled"
    assert {"messaging.destination.partition.id", "messaging.kafka.offset"} <= set(
        consumed.attributes
    )
    assert notified_span.attributes["messaging.system"] == "rabbitmq"
    assert notified_span.attributes["cqrs_worker.event_name"] == "ParticipantAdded"


def _describe(spans: list[SpanRecord]) -> str:
    return "\n".join(
        f"{s.service:15} {s.kind:9} {s.name:50} "
        f"trace={s.trace_id} span={s.span_id} parent={s.parent_span_id}"
        for s in spans
    )

"""The meetings example end to end: Kafka -> worker -> outbox -> relay -> RabbitMQ -> worker.

Three real processes (the ``cqrs-worker`` command) on the session's Kafka
broker, RabbitMQ and PostgreSQL; fresh topics, exchange, queues and tables.
"""

from __future__ import annotations

import asyncio
import time

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from consumers.meetings.events import Participant, UserJoined
from consumers.meetings.schema import Schema
from cqrs_worker.brokers import KafkaMessageBroker, OutgoingMessage, kafka_producer_factory
from tests.support.kafka import FAST_GROUP_SETTINGS, create_topic
from tests.support.names import unique_name
from tests.support.processes import ProcessSet

USERS = 50


async def test_user_joined_reaches_the_notifier_exactly_once(
    kafka_bootstrap: str, rabbitmq_url: str, postgres_url: str, processes: ProcessSet
) -> None:
    prefix = unique_name("meet").replace("-", "_")[:30]
    users_topic = await create_topic(kafka_bootstrap, unique_name("users"), 2)
    routing_key = unique_name("participants")
    exchange = unique_name("meetings")
    schema = Schema(prefix)
    engine = create_async_engine(postgres_url)
    common = {
        "MEETINGS_DATABASE_URL": postgres_url,
        "MEETINGS_PREFIX": prefix,
        "MEETINGS_PARTICIPANTS_TOPIC": routing_key,
        "MEETINGS_AMQP": rabbitmq_url,
        "MEETINGS_EXCHANGE": exchange,
        "CQRS_WORKER_HEALTH_PORT": "0",
        "CQRS_WORKER_SHUTDOWN_TIMEOUT": "5",
    }
    run = ["-m", "cqrs_worker.cli", "run", "--factory"]
    try:
        await schema.create(engine)
        notifier = processes.start_python(
            [*run, "consumers.meetings.notifier:build"],
            name="notifier",
            env={
                **common,
                "CQRS_WORKER_RABBITMQ_URL": rabbitmq_url,
                "CQRS_WORKER_RABBITMQ_EXCHANGE": exchange,
                "CQRS_WORKER_GROUP_ID": unique_name("notifier"),
                "CQRS_WORKER_TOPICS": routing_key,
            },
        )
        meetings = processes.start_python(
            [*run, "consumers.meetings.service:build"],
            name="meetings",
            env={
                **common,
                "CQRS_WORKER_KAFKA_BOOTSTRAP": kafka_bootstrap,
                "CQRS_WORKER_GROUP_ID": unique_name("meetings"),
                "CQRS_WORKER_TOPICS": users_topic,
                "CQRS_WORKER_KAFKA_IDEMPOTENCE": "false",
                "CQRS_WORKER_SESSION_TIMEOUT_MS": str(FAST_GROUP_SETTINGS["session_timeout_ms"]),
                "CQRS_WORKER_HEARTBEAT_INTERVAL_MS": str(
                    FAST_GROUP_SETTINGS["heartbeat_interval_ms"]
                ),
            },
        )
        notifier.wait_for_line("running", timeout=60)  # its queue is bound before anything flows
        processes.start_python(
            ["-m", "cqrs_worker.cli", "relay", "consumers.meetings.service:relay", "--factory"],
            name="relay",
            env=common,
        ).wait_for_line("relaying outbox table", timeout=30)
        meetings.wait_for_line("running", timeout=60)

        joined = [
            UserJoined(
                topic=users_topic,
                partition_key=f"user-{i}",
                payload=Participant(user=f"user-{i}", meeting=f"m-{i % 5}"),
            )
            for i in range(USERS)
        ]
        producer = KafkaMessageBroker(
            kafka_producer_factory(kafka_bootstrap, enable_idempotence=False)
        )
        await producer.start()
        try:
            # The first event twice: a redelivery that must change nothing.
            await producer.publish([OutgoingMessage.from_event(e) for e in [joined[0], *joined]])
        finally:
            await producer.close()

        async def count(table: sa.Table) -> int:
            async with engine.connect() as conn:
                query = sa.select(sa.func.count()).select_from(table)
                return int((await conn.execute(query)).scalar_one())

        deadline = time.monotonic() + 60
        while (welcomed := await count(schema.welcomes)) < USERS:
            assert time.monotonic() < deadline, f"{welcomed} of {USERS} welcomed after 60 s"
            for process in processes:
                assert process.running, f"{process.describe()} exited:\n{process.tail()}"
            await asyncio.sleep(0.1)  # the poll interval of a condition with a deadline
        assert await count(schema.participants) == USERS
        assert await count(schema.outbox.table) == USERS
        assert await count(schema.welcomes) == USERS
        meetings.terminate()
        assert await meetings.wait_async(30) == 0
        # The copy waits in the first one's lane right behind it, so it was handled
        # long before that user's welcome came back through the relay and RabbitMQ.
        # Duplicates log at DEBUG only; the stats on stopping count them.
        assert "duplicates=1" in meetings.output(), "the duplicate UserJoined is acked as one"
    finally:
        processes.stop_all()
        async with engine.begin() as conn:
            await conn.run_sync(schema.metadata.drop_all)
        await engine.dispose()

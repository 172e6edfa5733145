"""The Grafana dashboard and the Prometheus alert rules in consumers/observability/ use
only series that real processes serve: a ``cqrs-worker run`` on Kafka (Tansu) and
RabbitMQ, and a ``cqrs-worker relay`` on PostgreSQL, each scraped over HTTP after it
handled or published something."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from cqrs_worker.brokers import KafkaMessageBroker, OutgoingMessage, kafka_producer_factory
from examples.outbox_write import OrderPlaced, Placed, Schema
from tests.consumers.test_observability_files import referenced_metrics
from tests.integration.observability.app import RUN
from tests.integration.observability.scrape import scrape
from tests.support.kafka import FAST_GROUP_SETTINGS, create_topic
from tests.support.names import unique_name
from tests.support.net import LOOPBACK, free_port
from tests.support.processes import ProcessSet
from tests.support.waiting import async_wait_until
from tests.unit.worker.sample import placed

#: Served by a worker that runs sagas (``collectors=[sagas.collector()]``), not by this
#: one: tests/reliability/sagas/test_replies_over_kafka.py scrapes the orders worker for them.
SAGA_FAMILIES = frozenset({"cqrs_worker_sagas", "cqrs_worker_saga_step_duration_seconds"})


def _series(port: int) -> set[str]:
    _, samples = scrape(port)
    return {name for name, _ in samples}


def _families_text(port: int) -> set[str]:
    """Every family a scrape names in ``# TYPE`` lines, with samples or not (a RabbitMQ
    family of a worker with no queue yet has none)."""
    import http.client

    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=10)
    try:
        connection.request("GET", "/metrics")
        text = connection.getresponse().read().decode()
    finally:
        connection.close()
    return {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}


def _family(series: str) -> str:
    """A histogram's family for its ``_bucket``/``_sum``/``_count`` series."""
    for suffix in ("_bucket", "_sum", "_count"):
        if series.endswith(suffix):
            return series.removesuffix(suffix)
    return series


@pytest.mark.timeout(180)
async def test_every_series_the_dashboard_and_alerts_use_is_served(
    kafka_bootstrap: str,
    rabbitmq_url: str,
    postgres_url: str,
    topic_name: str,
    group_id: str,
    processes: ProcessSet,
) -> None:
    await create_topic(kafka_bootstrap, topic_name, 2)
    worker_port, relay_port = free_port(), free_port()
    worker = processes.start_python(
        [
            *RUN,
            *("--kafka-bootstrap", kafka_bootstrap, "--group-id", group_id, "--topics", topic_name),
            *("--rabbitmq-url", rabbitmq_url, "--rabbitmq-exchange", unique_name("x")),
            *("--health-port", str(worker_port), "--health-host", LOOPBACK),
            "--no-kafka-idempotence",
        ],
        name="worker",
        env={
            "OBSERVED_APP_HANG": "0",
            "CQRS_WORKER_SESSION_TIMEOUT_MS": str(FAST_GROUP_SETTINGS["session_timeout_ms"]),
            "CQRS_WORKER_HEARTBEAT_INTERVAL_MS": str(FAST_GROUP_SETTINGS["heartbeat_interval_ms"]),
        },
    )
    prefix = unique_name("dash").replace("-", "_")[:30]
    schema = Schema(prefix)
    engine = create_async_engine(postgres_url)
    try:
        await schema.create(engine)
        async with engine.begin() as conn:
            # The example's OrderPlaced is not the worker app's: the worker
            # dead-letters these, so the dead-letter series are served too.
            await schema.outbox.add_many(
                conn,
                [
                    OrderPlaced(payload=Placed(order_id=f"o{n}", total=n), topic=topic_name)
                    for n in range(5)
                ],
            )
        relay = processes.start_python(
            ["-m", "cqrs_worker.cli", "relay", "examples.outbox_relay_kafka:build", "--factory"],
            name="relay",
            env={
                "EXAMPLE_DATABASE_URL": postgres_url,
                "EXAMPLE_KAFKA": kafka_bootstrap,
                "EXAMPLE_PREFIX": prefix,
                "EXAMPLE_KAFKA_IDEMPOTENT": "0",
                "CQRS_WORKER_RELAY_HEALTH_PORT": str(relay_port),
                "CQRS_WORKER_RELAY_HEALTH_HOST": LOOPBACK,
                "CQRS_WORKER_RELAY_METRICS_INTERVAL": "0.2",
            },
        )
        await worker.await_line("running: sources", timeout=60)
        await relay.await_line("relaying outbox table", timeout=60)
        broker = KafkaMessageBroker(
            kafka_producer_factory(kafka_bootstrap, enable_idempotence=False)
        )
        await broker.start()
        await broker.publish(
            [
                OutgoingMessage.from_event(
                    placed(n, key=f"k{n}").model_copy(update={"topic": topic_name})
                )
                for n in range(3)
            ]
        )
        await broker.close()

        def published_and_handled() -> bool:
            served = _series(worker_port) | _series(relay_port)
            return {
                "cqrs_worker_handler_duration_seconds_count",
                "cqrs_worker_consumer_lag",
                "cqrs_worker_outbox_published_total",
                "cqrs_worker_outbox_publish_duration_seconds_count",
            } <= served

        await async_wait_until(published_and_handled, timeout=60)
        served = _series(worker_port) | _series(relay_port)
        declared = _families_text(worker_port) | _families_text(relay_port)
        missing = {
            name: sorted(where)
            for name, where in referenced_metrics().items()
            if name not in served
            and _family(name) not in declared
            and _family(name) not in SAGA_FAMILIES
        }
        assert not missing, missing
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(schema.metadata.drop_all)
        await engine.dispose()

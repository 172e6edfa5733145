"""The ``Worker``: wiring from a mediator and settings, start-up errors, stop, health."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from cqrs_worker import DefaultContainer
from cqrs_worker.bootstrap import bootstrap_events
from cqrs_worker.brokers import InMemoryBroker, OutgoingMessage
from cqrs_worker.errors import ConfigurationError
from cqrs_worker.inbox import UnitOfWork
from cqrs_worker.middleware import LoggingMiddleware, Middleware
from cqrs_worker.worker.app import Worker
from cqrs_worker.worker.context import SourceContext
from cqrs_worker.worker.memory import InMemoryDeadLetterSink, InMemorySource
from cqrs_worker.worker.settings import WorkerSettings
from cqrs_worker.worker.source import Source
from cqrs_worker.worker.transports import configured_transports, redact
from tests.support.waiting import async_wait_until
from tests.unit.worker.sample import Journal, mediator, placed
from tests.unit.worker.test_topics import NoTopic, _map


def settings(**values: object) -> WorkerSettings:
    return WorkerSettings(**{"health_port": 0, "shutdown_timeout": 1, **values})  # type: ignore[arg-type]


class Memory:
    """A source factory that keeps the sources it built."""

    def __init__(self) -> None:
        self.broker = InMemoryBroker()
        self.sources: list[InMemorySource] = []
        self.contexts: list[SourceContext] = []

    def __call__(self, context: SourceContext) -> Source:
        self.contexts.append(context)
        sink = InMemoryDeadLetterSink(self.broker, suffix=context.settings.dlq_suffix)
        source = InMemorySource(
            pipeline=context.pipeline(sink),
            concurrency=context.settings.concurrency,
            topics=context.topics,
            stats=context.stats,
        )
        self.sources.append(source)
        return source


class Broken:
    """A source whose ``start`` or ``run`` fails, as an unreachable broker's would."""

    def __init__(self, *, name: str = "kafka", fail_in: str = "start") -> None:
        self._name = name
        self._fail_in = fail_in
        self.stopped_with: float | None = None

    @property
    def name(self) -> str:
        return self._name

    def ready(self) -> bool:
        return False

    async def start(self) -> None:
        if self._fail_in == "start":
            raise ConnectionRefusedError("connection refused")

    async def run(self) -> None:
        raise RuntimeError("lost the broker")

    async def stop(self, timeout: float) -> None:
        self.stopped_with = timeout


async def test_a_worker_routes_events_through_its_sources_and_stops_cleanly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    journal = Journal()
    memory = Memory()
    await memory.broker.start()
    worker = Worker(mediator(journal), settings(concurrency=4), sources=[memory])
    caplog.set_level(logging.INFO, logger="cqrs_worker.worker.app")

    async with worker.running():
        [source] = memory.sources
        assert worker.readiness() is None
        for n in range(10):
            source.put(OutgoingMessage.from_event(placed(n, key=str(n % 3))))
        await source.wait_acked(10, timeout=5)

    assert sorted(journal.handled) == list(range(10))
    assert worker.state == "stopped"
    assert worker.readiness() == "worker is stopped"
    assert memory.contexts[0].topics == ("orders", "shipments")
    assert worker.stats.received == 10
    messages = [r.getMessage() for r in caplog.records]
    assert any("topics orders, shipments" in m and "OrderPlaced, Shipped" in m for m in messages)
    assert any(m.startswith("worker stopped; stats: received=10, handled=10") for m in messages)


async def test_metrics_list_the_counters_and_source_readiness() -> None:
    memory = Memory()
    worker = Worker(mediator(), settings(), sources=[memory])

    async with worker.running():
        text = worker.metrics()

    assert "# TYPE cqrs_worker_messages_received_total counter" in text
    assert 'cqrs_worker_ready{source="memory"} 1.0' in text


async def test_a_middleware_waiting_for_its_database_makes_the_worker_not_ready(
    tmp_path: Path,
) -> None:
    # A real unit of work on SQLite: the database file cannot be opened until its
    # folder exists, which is how an unreachable database looks to it.
    folder = tmp_path / "not-yet"
    engine = create_async_engine(f"sqlite+aiosqlite:///{folder / 'app.db'}")
    unit_of_work = UnitOfWork(async_sessionmaker(engine), container=DefaultContainer())
    journal = Journal()
    memory = Memory()
    middlewares: list[Middleware] = [LoggingMiddleware(), unit_of_work]  # one has readiness()
    worker = Worker(mediator(journal), settings(), sources=[memory], middlewares=middlewares)
    try:
        async with worker.running():
            [source] = memory.sources
            assert worker.readiness() is None
            source.put(OutgoingMessage.from_event(placed(1)))
            await async_wait_until(
                lambda: worker.readiness() is not None,
                timeout=5,
                message="the unit of work waits for the database",
            )
            assert worker.readiness() == (
                "not ready: UnitOfWork (database unreachable: 1 deliveries waiting for it)"
            )
            assert source.acked == []
            # Waiting for the database is not a running (or stuck, or timed) handler.
            assert len(worker.stats.in_flight) == 0

            folder.mkdir()
            await source.wait_acked(1, timeout=10)
            assert worker.readiness() is None
    finally:
        await engine.dispose()

    assert journal.handled == [1]


async def test_a_source_that_cannot_start_fails_start_up_naming_the_address() -> None:
    broken = Broken()
    worker = Worker(
        mediator(), settings(kafka_bootstrap="10.9.9.9:9092"), sources=[lambda c: broken]
    )

    with pytest.raises(ConfigurationError) as info:
        await worker.run()

    assert str(info.value) == (
        "the kafka source could not start at 10.9.9.9:9092 (CQRS_WORKER_KAFKA_BOOTSTRAP): "
        "ConnectionRefusedError: connection refused"
    )
    assert broken.stopped_with is None  # never started, so nothing to stop


async def test_other_sources_are_stopped_when_a_later_one_cannot_start() -> None:
    memory = Memory()
    worker = Worker(mediator(), settings(), sources=[memory, lambda c: Broken(name="rabbitmq")])

    with pytest.raises(ConfigurationError, match="the rabbitmq source could not start"):
        await worker.run()

    assert not memory.sources[0].ready()


async def test_a_source_failing_while_running_stops_the_worker_and_is_raised() -> None:
    broken = Broken(fail_in="run")
    worker = Worker(mediator(), settings(shutdown_timeout=3), sources=[lambda c: broken])

    with pytest.raises(RuntimeError, match="lost the broker"):
        await worker.run()

    assert worker.state == "failed"
    assert broken.stopped_with == 3
    assert worker.liveness() == "the kafka source failed: RuntimeError: lost the broker"


async def test_missing_topics_fail_before_anything_connects() -> None:
    worker = Worker(bootstrap_events(events=_map(NoTopic)), settings(), sources=[Memory()])

    with pytest.raises(ConfigurationError, match="NoTopic declares no default topic"):
        await worker.run()


async def test_a_worker_runs_once() -> None:
    worker = Worker(mediator(), settings(), sources=[Memory()])
    worker.request_stop()
    await worker.run()

    with pytest.raises(RuntimeError, match="runs once"):
        await worker.run()


async def test_a_stop_requested_before_running_ends_the_run_after_start_up() -> None:
    memory = Memory()
    worker = Worker(mediator(), settings(), sources=[memory])
    worker.request_stop()

    await asyncio.wait_for(worker.run(), 5)

    assert worker.state == "stopped"


def test_replace_keeps_everything_but_the_settings() -> None:
    memory = Memory()
    worker = Worker(mediator(), settings(), sources=[memory], middlewares=[object()])  # type: ignore[list-item]

    other = worker.replace(settings(concurrency=2))

    assert other.settings.concurrency == 2
    assert other.middlewares == worker.middlewares
    assert other.mediator is worker.mediator
    assert other.state == "created"


def test_the_worker_id_defaults_to_host_and_pid() -> None:
    assert Worker(mediator(), settings()).worker_id == f"{socket.gethostname()}-{os.getpid()}"
    assert Worker(mediator(), settings(instance_id="pod-1")).worker_id == "pod-1"
    assert Worker(mediator(), settings(worker_id="w-9", instance_id="p")).worker_id == "w-9"


def test_no_broker_is_a_configuration_error_naming_both_variables() -> None:
    with pytest.raises(ConfigurationError) as info:
        configured_transports(settings())

    assert "CQRS_WORKER_KAFKA_BOOTSTRAP (--kafka-bootstrap" in str(info.value)
    assert "CQRS_WORKER_RABBITMQ_URL (--rabbitmq-url" in str(info.value)


def test_kafka_needs_a_group() -> None:
    with pytest.raises(ConfigurationError, match="CQRS_WORKER_GROUP_ID"):
        configured_transports(settings(kafka_bootstrap="k:9092"))


def test_both_brokers_give_two_transports() -> None:
    both = settings(kafka_bootstrap="k:9092", group_id="g", rabbitmq_url="amqp://guest:s@r/")

    assert len(configured_transports(both)) == 2


def test_passwords_are_redacted_from_urls() -> None:
    assert redact("amqp://user:secret@rabbit:5672/vh") == "amqp://user:***@rabbit:5672/vh"
    assert redact("amqp://rabbit/") == "amqp://rabbit/"


async def test_an_attempt_running_past_liveness_stuck_after_makes_the_worker_not_live() -> None:
    journal = Journal(gate=asyncio.Event())
    memory = Memory()
    await memory.broker.start()
    worker = Worker(mediator(journal), settings(liveness_stuck_after=1.0), sources=[memory])

    async with worker.running():
        [source] = memory.sources
        source.put(OutgoingMessage.from_event(placed(1)))
        await async_wait_until(lambda: journal.running == 1, timeout=5)
        assert worker.liveness() is None  # running, not yet for long

        await async_wait_until(lambda: worker.liveness() is not None, timeout=10)
        problem = worker.liveness() or ""
        assert "a handling attempt of OrderPlaced has run for" in problem
        assert "CQRS_WORKER_LIVENESS_STUCK_AFTER (1s)" in problem

        journal.gate.set()  # type: ignore[union-attr]  # set above
        await source.wait_acked(1, timeout=5)
        assert worker.liveness() is None


async def test_without_liveness_stuck_after_a_long_attempt_stays_live() -> None:
    journal = Journal(gate=asyncio.Event())
    memory = Memory()
    await memory.broker.start()
    worker = Worker(mediator(journal), settings(), sources=[memory])

    async with worker.running():
        [source] = memory.sources
        source.put(OutgoingMessage.from_event(placed(1)))
        await async_wait_until(lambda: journal.running == 1, timeout=5)
        assert worker.stats.in_flight.oldest() is not None
        assert worker.liveness() is None
        journal.gate.set()  # type: ignore[union-attr]  # set above
        await source.wait_acked(1, timeout=5)

"""R10: outages. Readiness goes false while a dependency is cut, true once it is back; 0 loss.

Kafka: one worker process consumes 10,000 events from a Tansu behind a TCP
proxy (it advertises the proxy, so every connection goes through it). The
proxy is cut when about a third has been handled and again at about half;
each time ``/readyz`` of the worker's health server must answer 503 within
:data:`NOT_READY_WITHIN` and 200 again within :data:`READY_AGAIN_WITHIN` of the
restore. At the end every event was handled (redeliveries of work finished
but not committed before a cut are allowed, and reported).

Database: one worker process of :mod:`tests.reliability.inbox.app` (a unit of
work with the inbox on PostgreSQL) reaches the database through a TCP proxy,
which is cut for :data:`DB_OUTAGE` seconds mid-run: ``/readyz`` answers 503
naming the unit of work while it is cut, 200 after, and every event has
exactly one row (the inbox turns redeliveries into no-ops).

RabbitMQ: one worker process consumes 3,000 persistent events from a durable
queue on the local RabbitMQ, which is restarted (``rabbitmqctl stop_app``,
:data:`RABBIT_OUTAGE` seconds, ``start_app``) while the first 2,000 are being
handled; the other 1,000 are published once it is back. ``/readyz`` answers 503
naming the source while it is down and 200 after; every event is handled
(deliveries unacknowledged at the restart come again, and are reported), the
queue ends empty and nothing was dead-lettered. Skipped, saying why, where the
server cannot be restarted from here (no ``rabbitmqctl``, or
``CQRS_WORKER_TEST_RABBITMQ`` names another server); the server is always
started again (:mod:`tests.support.rabbitmq_server`).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from cqrs_worker.brokers import (
    AMQPMessageBroker,
    KafkaMessageBroker,
    OutgoingMessage,
    kafka_producer_factory,
)
from cqrs_worker.worker.health import probe
from tests.reliability.inbox.app import tables
from tests.reliability.inbox.conftest import Rig as InboxRig
from tests.reliability.worker.rig import Rig, journal_lines, numbered
from tests.support.kafka import create_topic
from tests.support.names import unique_name
from tests.support.net import LOOPBACK, free_port
from tests.support.processes import ManagedProcess, ProcessSet
from tests.support.proxy import ProxiedTansu, TcpProxy
from tests.support.rabbitmq_server import LocalRabbitMQ, RestartUnavailableError
from tests.support.waiting import async_wait_until

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(240)]

EVENTS = 10_000
PARTITIONS = 4
CUTS = (EVENTS // 3, EVENTS // 2)
#: How long a cut may take to show on /readyz (aiokafka notices a dead coordinator
#: at its next heartbeat or fetch; heartbeats are every 0.5 s here).
NOT_READY_WITHIN = 10.0
#: How long after the restore the worker may take to be ready again: reconnect,
#: find the coordinator, perhaps rejoin the group (~2 session timeouts on Tansu);
#: for the database, the unit of work's backoff (up to 10 s) between attempts.
READY_AGAIN_WITHIN = 30.0
#: How long each Kafka cut lasts once readiness went false: twice the 2 s session
#: timeout. (Tansu 0.6 keeps the member through it, so the worker carries on in
#: the same generation; Apache Kafka would make it rejoin.)
KAFKA_OUTAGE = 4.0
KAFKA_WORKER_ENV = {
    "CQRS_WORKER_CONCURRENCY": "16",
    "CQRS_WORKER_SHUTDOWN_TIMEOUT": "10",
    "RELIABILITY_SECONDS": "0.002",
}
#: The feed: 100 events every 0.1 s, ~1,000 a second (the worker keeps up).
FEED_CHUNK = 100
FEED_INTERVAL = 0.1

DB_EVENTS = 1_000
DB_OUTAGE = 10.0

RABBIT_EVENTS = 3_000
#: Published before the restart; the rest once RabbitMQ is back.
RABBIT_BEFORE = 2_000
#: Handled when the application is stopped: the rest of the first batch is in
#: the worker (its prefetch window) or still in the queue.
RABBIT_STOP_AT = 400
#: How long the application stays stopped (from the restart, at least 1 s after
#: readiness went false).
RABBIT_OUTAGE = 5.0
#: 8 deliveries at a time, 20 ms each (~400 a second): the first batch takes 5 s,
#: so RabbitMQ goes away (stop_app takes ~0.6 s, a few seconds on a loaded machine)
#: with part of it still to do.
RABBIT_WORKER_ENV = {
    "CQRS_WORKER_CONCURRENCY": "8",
    "CQRS_WORKER_RABBITMQ_RECONNECT_INTERVAL": "1",  # the default is 5 s
    "CQRS_WORKER_SHUTDOWN_TIMEOUT": "10",
    "RELIABILITY_SECONDS": "0.02",
}


@dataclass
class Health:
    """A worker's health endpoints, asked from the test's event loop."""

    port: int

    async def readyz(self) -> tuple[int, str]:
        try:
            return await asyncio.to_thread(probe, LOOPBACK, self.port, "/readyz", timeout=5)
        except OSError as exc:
            return 0, f"{type(exc).__name__}: {exc}"

    async def wait_for(self, status: int, *, timeout: float, worker: ManagedProcess) -> float:
        """Seconds until ``/readyz`` answered ``status``; fails on a timeout or a dead worker."""
        started = time.monotonic()
        deadline = started + timeout
        while True:
            answer = await self.readyz()
            if answer[0] == status:
                return time.monotonic() - started
            assert worker.running, f"{worker.describe()} exited:\n{worker.tail()}"
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"/readyz did not answer {status} within {timeout:.0f}s; last {answer}"
                )
            await asyncio.sleep(0.05)  # the poll interval of a condition with a deadline

    async def stays(self, status: int, *, seconds: float) -> set[str]:
        """Ask ``/readyz`` for ``seconds``: every answer must be ``status``; the bodies seen."""
        bodies = set()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            answer, body = await self.readyz()
            assert answer == status, f"/readyz answered {answer} {body!r}, not {status}"
            bodies.add(body.strip())
            await asyncio.sleep(0.1)  # how often the answer is checked
        return bodies


async def every_one_handled(
    lines: Callable[[], collections.Counter[int]],
    total: int,
    *,
    timeout: float,
    worker: ManagedProcess,
) -> int:
    """Wait until the journal ``lines`` holds ``total`` handlings; fail unless every seq below
    ``total`` is among them. Returns how many were redeliveries."""
    await async_wait_until(
        lambda: len(lines()) >= total,
        timeout=timeout,
        message=lambda: f"{len(lines())} of {total} handled\n{worker.tail()}",
    )
    handled = lines()
    assert set(handled) == set(range(total)), "lost events"
    return sum(n - 1 for n in handled.values())


def health_env() -> tuple[Health, dict[str, str]]:
    port = free_port()
    env = {"CQRS_WORKER_HEALTH_PORT": str(port), "CQRS_WORKER_HEALTH_HOST": LOOPBACK}
    return Health(port), env


# -- Kafka ----------------------------------------------------------------------------


@pytest.fixture
def proxied_rig(
    kafka_via_proxy: ProxiedTansu, processes: ProcessSet, tmp_path_factory: pytest.TempPathFactory
) -> Rig:
    return Rig(
        kafka=kafka_via_proxy.bootstrap,
        topic=f"r10-{uuid.uuid4().hex[:12]}",
        group=f"r10-group-{uuid.uuid4().hex[:12]}",
        out=tmp_path_factory.mktemp("handled"),
        processes=processes,
    )


class Feed:
    """Produces the events in steady chunks through the proxy, never while it is cut.

    A backlog produced up front would sit in the worker's fetch buffer (one
    fetch takes ~1 MB a partition), and a cut would not interrupt its work;
    events arriving all along, as in production, do.
    """

    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self._lock = asyncio.Lock()

    async def run(self) -> None:
        broker = KafkaMessageBroker(
            kafka_producer_factory(self.rig.kafka, enable_idempotence=False)
        )
        await broker.start()
        try:
            for start in range(0, EVENTS, FEED_CHUNK):
                seqs = range(start, min(start + FEED_CHUNK, EVENTS))
                async with self._lock:
                    await broker.publish(
                        [
                            OutgoingMessage.from_event(
                                numbered(n).model_copy(update={"topic": self.rig.topic})
                            )
                            for n in seqs
                        ]
                    )
                    self.rig.produced += len(seqs)
                await asyncio.sleep(FEED_INTERVAL)  # the pace of the feed, not a wait for anything
        finally:
            await broker.close()

    @contextlib.asynccontextmanager
    async def paused(self) -> AsyncIterator[None]:
        """Hold the feed (after the chunk being sent is confirmed) while the block runs."""
        async with self._lock:
            yield


async def test_kafka_cut_twice_turns_readiness_false_then_true_and_loses_nothing(
    proxied_rig: Rig, kafka_via_proxy: ProxiedTansu
) -> None:
    rig, proxy = proxied_rig, kafka_via_proxy.proxy
    began = time.monotonic()
    await create_topic(rig.kafka, rig.topic, PARTITIONS)
    health, env = health_env()
    worker = rig.start_worker("worker", **KAFKA_WORKER_ENV, **env)
    await worker.await_line("running: sources kafka", timeout=60)
    await health.wait_for(200, timeout=30, worker=worker)
    feed = Feed(rig)
    feeding = asyncio.create_task(feed.run())

    outages = []
    for at in CUTS:
        await async_wait_until(
            lambda at=at: len(rig.lines()) >= at,  # type: ignore[misc]
            timeout=60,
            message=lambda: f"{len(rig.lines())} of {rig.produced} produced handled",
        )
        async with feed.paused():
            handled_at_cut = len(rig.lines())
            proxy.cut()
            not_ready = await health.wait_for(503, timeout=NOT_READY_WITHIN, worker=worker)
            reasons = await health.stays(503, seconds=max(1.0, KAFKA_OUTAGE - not_ready))
            handled_at_restore = len(rig.lines())
            proxy.restore()
            ready_again = await health.wait_for(200, timeout=READY_AGAIN_WITHIN, worker=worker)
        outages.append(
            (handled_at_cut, handled_at_restore - handled_at_cut, not_ready, reasons, ready_again)
        )
    await feeding

    duplicates = await every_one_handled(rig.lines, EVENTS, timeout=90, worker=worker)
    worker.terminate()
    assert await worker.wait_async(30) == 0, worker.tail()
    assert await rig.lag(PARTITIONS) == dict.fromkeys(range(PARTITIONS), 0)
    print(
        f"R10 (kafka): {EVENTS} events, 0 lost, {duplicates} redelivered; "
        + "; ".join(
            f"cut at {at} handled ({during} during the cut): not ready after {down:.1f}s "
            f"({' | '.join(sorted(bodies))}), ready {up:.1f}s after restore"
            for at, during, down, bodies, up in outages
        )
        + f"; total {time.monotonic() - began:.0f}s"
    )


# -- the database -----------------------------------------------------------------------


def via_proxy(url: str, proxy: TcpProxy) -> str:
    """``url`` with its host and port replaced by the proxy's."""
    parts = urlsplit(url)
    netloc = f"{parts.username}@{proxy.address}" if parts.username else proxy.address
    return urlunsplit(parts._replace(netloc=netloc))


@pytest.fixture
async def inbox_rig(
    postgres_url: str,
    kafka_bootstrap: str,
    processes: ProcessSet,
    make_tcp_proxy: Callable[[str, int], TcpProxy],
) -> AsyncIterator[tuple[InboxRig, TcpProxy]]:
    """The inbox suites' rig, but the worker reaches PostgreSQL through the proxy (the test not)."""
    parts = urlsplit(postgres_url)
    proxy = make_tcp_proxy(parts.hostname or LOOPBACK, parts.port or 5432)
    suffix = uuid.uuid4().hex[:12]
    metadata = sa.MetaData()
    t = tables(metadata, suffix)
    engine = create_async_engine(postgres_url, pool_size=5)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    try:
        rig = InboxRig(
            kafka=kafka_bootstrap,
            database_url=via_proxy(postgres_url, proxy),
            engine=engine,
            tables=t,
            suffix=suffix,
            topic=await create_topic(kafka_bootstrap, f"r10-db-{suffix}", PARTITIONS),
            out_topic=f"r10-db-out-{suffix}",  # the outbox is not relayed here
            group=f"r10-db-{suffix}",
            processes=processes,
        )
        yield rig, proxy
    finally:
        processes.stop_all()
        async with engine.begin() as conn:
            await conn.run_sync(metadata.drop_all)
        await engine.dispose()


async def test_database_cut_for_10s_turns_readiness_false_then_true_and_loses_nothing(
    inbox_rig: tuple[InboxRig, TcpProxy],
) -> None:
    rig, proxy = inbox_rig
    health, env = health_env()
    worker = rig.start_worker(env={**env, "CQRS_WORKER_SHUTDOWN_TIMEOUT": "10"})
    await worker.await_line("running: sources kafka", timeout=60)
    await health.wait_for(200, timeout=30, worker=worker)
    users = [f"user-{n}" for n in range(DB_EVENTS)]
    half = DB_EVENTS // 2

    await rig.produce([rig.event(user) for user in users[:half]])
    await rig.wait_for_rows(half // 2, timeout=60)
    proxy.cut()
    # Events keep arriving while the database is away: their deliveries wait for it.
    await rig.produce([rig.event(user) for user in users[half:]])
    cut_at = await rig.count(rig.tables.participants)
    not_ready = await health.wait_for(503, timeout=NOT_READY_WITHIN, worker=worker)
    reasons = await health.stays(503, seconds=max(1.0, DB_OUTAGE - not_ready))
    during = await rig.count(rig.tables.participants) - cut_at
    proxy.restore()
    ready_again = await health.wait_for(200, timeout=READY_AGAIN_WITHIN, worker=worker)

    await rig.wait_for_rows(DB_EVENTS, timeout=60)
    await health.stays(200, seconds=1.0)  # nothing left waiting
    rows = collections.Counter(await rig.users())
    assert set(rows) == set(users), "lost events"
    assert max(rows.values()) == 1, "an event took effect twice"
    assert all("UnitOfWork (database unreachable" in reason for reason in reasons), reasons
    assert during == 0, "nothing commits while the database is cut"
    output = worker.output()
    assert "dead-lettering" not in output
    worker.terminate()
    assert await worker.wait_async(30) == 0, worker.tail()
    print(
        f"R10 (database): {DB_EVENTS} events, 0 lost, 0 twice; cut {DB_OUTAGE:.0f}s at "
        f"{cut_at} rows: not ready after {not_ready:.1f}s ({len(reasons)} distinct answers, "
        f"e.g. {min(reasons)!r}), ready {ready_again:.1f}s after restore"
    )


# -- RabbitMQ -----------------------------------------------------------------------------


@dataclass
class RabbitRig:
    """This test's exchange, routing key and queue on RabbitMQ, and its worker processes."""

    url: str
    out: Path
    processes: ProcessSet
    exchange: str = field(default_factory=lambda: unique_name("r10-ex"))
    routing_key: str = field(default_factory=lambda: unique_name("r10-rk"))
    queue: str = field(default_factory=lambda: unique_name("r10-q"))

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.queue}.dlq"

    def start_worker(self, name: str, **env: str) -> ManagedProcess:
        settings = {
            "CQRS_WORKER_RABBITMQ_URL": self.url,
            "CQRS_WORKER_RABBITMQ_EXCHANGE": self.exchange,
            "CQRS_WORKER_TOPICS": self.routing_key,
            "CQRS_WORKER_QUEUES": self.queue,
            "CQRS_WORKER_WORKER_ID": name,
            "RELIABILITY_OUT": str(self.out / f"{name}.log"),
        }
        return self.processes.start_python(
            ["-m", "cqrs_worker.cli", "run", "tests.reliability.worker.app:build", "--factory"],
            name=name,
            env={**settings, **env},
        )

    async def publish(self, seqs: range) -> None:
        """Events ``seqs``, persistent, each confirmed by RabbitMQ."""
        broker = AMQPMessageBroker(self.url, exchange=self.exchange)
        await broker.start()
        try:
            for start in range(seqs.start, seqs.stop, 500):
                await broker.publish(
                    [
                        OutgoingMessage.from_event(
                            numbered(n).model_copy(update={"topic": self.routing_key})
                        )
                        for n in range(start, min(start + 500, seqs.stop))
                    ]
                )
        finally:
            await broker.close()

    def lines(self) -> collections.Counter[int]:
        return journal_lines(self.out)

    async def message_counts(self) -> tuple[int, int]:
        """Messages in the queue and in its dead-letter queue."""
        connection = await aio_pika.connect(self.url)
        try:
            channel = await connection.channel()
            counts = []
            for name in (self.queue, self.dead_letter_queue):
                queue = await channel.declare_queue(name, passive=True)
                counts.append(int(queue.declaration_result.message_count or 0))
            return counts[0], counts[1]
        finally:
            await connection.close()

    async def cleanup(self) -> None:
        connection = await aio_pika.connect(self.url)
        try:
            channel = await connection.channel()
            for name in (self.queue, self.dead_letter_queue):
                await channel.queue_delete(name)
            for name in (self.exchange, f"{self.exchange}.dlx"):
                await channel.exchange_delete(name)
        finally:
            await connection.close()


@pytest.fixture
def local_rabbitmq(rabbitmq_url: str) -> Iterator[LocalRabbitMQ]:
    """The local RabbitMQ, to restart; running again at teardown whatever happened."""
    try:
        server = LocalRabbitMQ.of(rabbitmq_url)
    except RestartUnavailableError as exc:
        pytest.skip(f"cannot restart RabbitMQ: {exc}")
    try:
        yield server
    finally:
        server.ensure_running()


@pytest.fixture
async def rabbit_rig(
    rabbitmq_url: str,
    local_rabbitmq: LocalRabbitMQ,
    processes: ProcessSet,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[RabbitRig]:
    rig = RabbitRig(rabbitmq_url, tmp_path_factory.mktemp("handled"), processes)
    try:
        yield rig
    finally:
        processes.stop_all()
        await asyncio.to_thread(local_rabbitmq.ensure_running)  # before deleting the queues
        await rig.cleanup()


async def test_rabbitmq_restart_turns_readiness_false_then_true_and_loses_nothing(
    rabbit_rig: RabbitRig, local_rabbitmq: LocalRabbitMQ
) -> None:
    rig, server = rabbit_rig, local_rabbitmq
    began = time.monotonic()
    health, env = health_env()
    worker = rig.start_worker("worker", **RABBIT_WORKER_ENV, **env)
    await worker.await_line("running: sources rabbitmq", timeout=60)
    await health.wait_for(200, timeout=30, worker=worker)
    await rig.publish(range(RABBIT_BEFORE))
    await async_wait_until(
        lambda: len(rig.lines()) >= RABBIT_STOP_AT,
        timeout=60,
        message=lambda: f"{len(rig.lines())} of {RABBIT_BEFORE} handled\n{worker.tail()}",
    )

    handled_at_stop = len(rig.lines())
    stopping = time.monotonic()
    await asyncio.to_thread(server.stop_app)  # returns once the connections are closed
    stopped = time.monotonic()
    not_ready = await health.wait_for(503, timeout=NOT_READY_WITHIN, worker=worker)
    handled_when_down = len(rig.lines())
    reasons = await health.stays(
        503, seconds=max(1.0, RABBIT_OUTAGE - (time.monotonic() - stopped))
    )
    handled_at_start = len(rig.lines())
    await asyncio.to_thread(server.start_app)
    started = time.monotonic()
    ready_again = await health.wait_for(200, timeout=READY_AGAIN_WITHIN, worker=worker)
    await rig.publish(range(RABBIT_BEFORE, RABBIT_EVENTS))

    duplicates = await every_one_handled(rig.lines, RABBIT_EVENTS, timeout=60, worker=worker)
    assert handled_when_down < RABBIT_BEFORE, "RabbitMQ went away after the first batch was done"
    assert all("rabbitmq" in reason for reason in reasons), reasons
    assert "dead-lettering" not in worker.output()
    worker.terminate()
    assert await worker.wait_async(30) == 0, worker.tail()
    assert await rig.message_counts() == (0, 0), "(queue, dead-letter queue) not empty"
    print(
        f"R10 (rabbitmq): {RABBIT_EVENTS} events, 0 lost, {duplicates} redelivered; "
        f"stop_app at {handled_at_stop} handled took {stopped - stopping:.1f}s, not ready "
        f"{not_ready:.1f}s after ({' | '.join(sorted(reasons))}) at {handled_when_down} "
        f"handled, {handled_at_start - handled_when_down} more while down; down "
        f"{started - stopped:.1f}s, ready {ready_again:.1f}s after start_app returned; "
        f"total {time.monotonic() - began:.0f}s"
    )

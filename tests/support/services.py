"""Where the real services for tests are, and a clear error when one is down.

Each address comes from an environment variable, with a default that matches
the development and CI machines (see ``/work/shared/kafka-for-tests.md``):

==============================  =================================================
``CQRS_WORKER_TEST_KAFKA``      ``host:port[,host:port]``; unset: tests start Tansu
``CQRS_WORKER_TEST_RABBITMQ``   ``amqp://guest:guest@127.0.0.1:5672/``
``CQRS_WORKER_TEST_POSTGRES``   ``postgresql+asyncpg://postgres@127.0.0.1:5432/test``
``CQRS_WORKER_TEST_MYSQL``      ``mysql+asyncmy://root@127.0.0.1:3306/test``
``CQRS_WORKER_TEST_REDIS``      ``redis://127.0.0.1:6379/0``
==============================  =================================================

The database URLs are SQLAlchemy URLs (``create_async_engine(url)``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from tests.support.net import tcp_connect_error

__all__ = [
    "KAFKA_ENV",
    "MYSQL",
    "POSTGRES",
    "RABBITMQ",
    "REDIS",
    "Service",
    "ServiceUnavailableError",
    "kafka_bootstrap_from_env",
    "kafka_unavailable_message",
    "require",
]

KAFKA_ENV: Final = "CQRS_WORKER_TEST_KAFKA"


class ServiceUnavailableError(RuntimeError):
    """A service the tests need does not accept connections."""


@dataclass(frozen=True)
class Service:
    """A real service the tests connect to."""

    name: str
    env_var: str
    default_url: str
    default_port: int
    how_to_start: str

    @property
    def url(self) -> str:
        """The URL from ``env_var``, or the default when it is unset or empty."""
        return os.environ.get(self.env_var) or self.default_url

    @property
    def host_port(self) -> tuple[str, int]:
        parts = urlsplit(self.url)
        return parts.hostname or "127.0.0.1", parts.port or self.default_port

    def unavailable_message(self, error: BaseException) -> str:
        host, port = self.host_port
        return (
            f"{self.name} is not reachable at {host}:{port} ({error}).\n"
            f"Start the local services with `./dev services` (it runs: {self.how_to_start}),\n"
            f"or point {self.env_var} at a running {self.name} "
            f"(now: {self.env_var}={os.environ.get(self.env_var, '<unset>')})."
        )


RABBITMQ: Final = Service(
    name="RabbitMQ",
    env_var="CQRS_WORKER_TEST_RABBITMQ",
    default_url="amqp://guest:guest@127.0.0.1:5672/",
    default_port=5672,
    how_to_start="rabbitmq-server -detached",
)

POSTGRES: Final = Service(
    name="PostgreSQL",
    env_var="CQRS_WORKER_TEST_POSTGRES",
    default_url="postgresql+asyncpg://postgres@127.0.0.1:5432/test",
    default_port=5432,
    how_to_start=("pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"),
)

MYSQL: Final = Service(
    name="MariaDB",
    env_var="CQRS_WORKER_TEST_MYSQL",
    default_url="mysql+asyncmy://root@127.0.0.1:3306/test",
    default_port=3306,
    how_to_start=("start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd"),
)

REDIS: Final = Service(
    name="Redis",
    env_var="CQRS_WORKER_TEST_REDIS",
    default_url="redis://127.0.0.1:6379/0",
    default_port=6379,
    how_to_start="redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save ''",
)


def require(service: Service, *, timeout: float = 3.0) -> str:
    """Return the service's URL once a TCP connection to it succeeds.

    Raises :class:`ServiceUnavailableError` with how to start it otherwise.
    """
    host, port = service.host_port
    error = tcp_connect_error(host, port, timeout=timeout)
    if error is not None:
        raise ServiceUnavailableError(service.unavailable_message(error))
    return service.url


def kafka_bootstrap_from_env() -> str | None:
    """``CQRS_WORKER_TEST_KAFKA`` (a bootstrap list), or ``None``: start our own Tansu."""
    value = os.environ.get(KAFKA_ENV, "").strip()
    return value or None


def kafka_unavailable_message(bootstrap: str, error: BaseException) -> str:
    return (
        f"No Kafka broker answered at {KAFKA_ENV}={bootstrap} ({error}).\n"
        f"Start that broker (for Apache Kafka: `docker compose up -d kafka` with the "
        f"repo's compose.yaml), or unset {KAFKA_ENV} so the tests start their own Tansu."
    )

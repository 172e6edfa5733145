"""Test your own handlers with the real worker pipeline, in memory: :func:`run_worker_in_memory`.

::

    async def test_welcome_mail_is_sent() -> None:
        async with run_worker_in_memory(mediator) as worker:
            await worker.publish(UserJoined(payload=UserJoinedPayload(user_id="42")))
            await worker.wait_handled(1)
        assert mailer.sent == ["42"]

Events go through the same decode, routing, retry and dead-letter pipeline
and the same per-key lanes as on Kafka or RabbitMQ, so malformed input and
failing handlers behave as in production: dead letters land in
:attr:`WorkerHarness.broker` under ``<topic>.dlq`` with their ``x-dlq-*``
headers. The settings come from code only (the environment is ignored);
retries default to a few milliseconds apart. For FastStream's own test
brokers, see :mod:`cqrs_worker.contrib.faststream`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from cqrs_worker.brokers.memory import InMemoryBroker
from cqrs_worker.brokers.message import OutgoingMessage
from cqrs_worker.event_mediator import EventMediator
from cqrs_worker.events import WireEvent
from cqrs_worker.middleware import Middleware
from cqrs_worker.worker.app import Worker
from cqrs_worker.worker.context import SourceContext
from cqrs_worker.worker.memory import InMemoryDeadLetterSink, InMemoryMessage, InMemorySource
from cqrs_worker.worker.settings import WorkerSettings
from cqrs_worker.worker.source import Source
from cqrs_worker.worker.stats import WorkerStats

__all__ = ["WorkerHarness", "run_worker_in_memory"]

_TEST_DEFAULTS: dict[str, Any] = {
    "health_port": 0,
    "retry_initial_delay": 0.001,
    "retry_max_delay": 0.01,
    "shutdown_timeout": 5.0,
}


class _CodeOnlySettings(WorkerSettings):
    """Settings from code alone: a developer's ``CQRS_WORKER_*`` variables do not leak in."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


class WorkerHarness:
    """A worker running in memory: publish events, wait, look at what happened."""

    def __init__(self, worker: Worker, source: InMemorySource, broker: InMemoryBroker) -> None:
        self.worker = worker
        self.source = source
        #: Dead letters (``<topic>.dlq``), and whatever else you publish to it.
        self.broker = broker

    @property
    def stats(self) -> WorkerStats:
        return self.worker.stats

    async def publish(self, *events: WireEvent[Any]) -> None:
        """Deliver ``events`` as a broker would: envelope bytes, key and headers."""
        for event in events:
            self.source.put(OutgoingMessage.from_event(event))

    async def publish_raw(
        self,
        body: bytes,
        *,
        topic: str,
        key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Deliver raw bytes (e.g. a malformed message) to ``topic``."""
        self.source.put(OutgoingMessage(topic, body, key, dict(headers or {})))

    async def wait_handled(self, count: int, *, timeout: float = 5.0) -> list[InMemoryMessage]:
        """Wait until ``count`` messages in all were finished (handled, dead-lettered or
        acknowledged as unknown); return them in completion order.

        Raises ``TimeoutError`` saying how many finished.
        """
        return await self.source.wait_acked(count, timeout)

    def dead_letters(self, topic: str | None = None) -> list[OutgoingMessage]:
        """Dead-lettered messages (of ``topic``, or all), oldest first, with their headers."""
        suffix = self.worker.settings.dlq_suffix
        if topic is not None:
            return self.broker.messages(f"{topic}{suffix}")
        return [m for m in self.broker.messages() if m.destination.endswith(suffix)]


@contextlib.asynccontextmanager
async def run_worker_in_memory(
    mediator: EventMediator,
    *,
    broker: InMemoryBroker | None = None,
    middlewares: Sequence[Middleware] = (),
    **settings: Any,
) -> AsyncIterator[WorkerHarness]:
    """Run a :class:`~cqrs_worker.worker.app.Worker` for ``mediator`` on an in-memory source.

    ``settings`` are :class:`~cqrs_worker.worker.settings.WorkerSettings`
    fields (``max_attempts=3``, ``topics=("orders",)``, ...). On exit the
    worker stops gracefully, as on SIGTERM.
    """
    dead_letters = broker if broker is not None else InMemoryBroker()
    await dead_letters.start()
    built: list[InMemorySource] = []

    def memory(context: SourceContext) -> Source:
        sink = InMemoryDeadLetterSink(dead_letters, suffix=context.settings.dlq_suffix)
        source = InMemorySource(
            pipeline=context.pipeline(sink),
            concurrency=context.settings.concurrency,
            stats=context.stats,
        )
        built.append(source)
        return source

    worker = Worker(
        mediator,
        _CodeOnlySettings(**{**_TEST_DEFAULTS, **settings}),
        middlewares=middlewares,
        sources=[memory],
    )
    async with worker.running():
        yield WorkerHarness(worker, built[0], dead_letters)

"""Lifespan: resources start with the app, in order, and stop in reverse order."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from cqrs_worker.brokers import InMemoryBroker, OutgoingMessage
from cqrs_worker.contrib.fastapi import Lifespan
from cqrs_worker.errors import ConfigurationError, PublishError


def message() -> OutgoingMessage:
    return OutgoingMessage(destination="orders", body=b"{}")


class Recorded:
    """A start()/close() resource that writes what happens to a shared journal."""

    def __init__(
        self, name: str, journal: list[str], *, fail_start: bool = False, fail_close: bool = False
    ) -> None:
        self.name = name
        self.journal = journal
        self.fail_start = fail_start
        self.fail_close = fail_close

    async def start(self) -> None:
        if self.fail_start:
            raise ConnectionError(f"{self.name} is unreachable")
        self.journal.append(f"start {self.name}")

    async def close(self) -> None:
        self.journal.append(f"close {self.name}")
        if self.fail_close:
            raise ConnectionError(f"{self.name} did not close")


def context(name: str, journal: list[str]) -> AbstractAsyncContextManager[None]:
    @asynccontextmanager
    async def managed() -> AsyncIterator[None]:
        journal.append(f"enter {name}")
        try:
            yield
        finally:
            journal.append(f"exit {name}")

    return managed()


async def test_the_app_lifespan_starts_a_broker_and_closes_it() -> None:
    broker = InMemoryBroker()
    app = FastAPI(lifespan=Lifespan(broker))

    async with LifespanManager(app):
        await broker.publish([message()])  # started by the app's start-up
        assert broker.published_count("orders") == 1
    # Closed by its shutdown: a closed broker refuses until start() reopens it
    # (one never started would start on its first publish).
    with pytest.raises(PublishError, match="closed"):
        await broker.publish([message()])


async def test_resources_start_in_order_and_stop_in_reverse() -> None:
    journal: list[str] = []
    lifespan = Lifespan(Recorded("a", journal), context("b", journal))
    lifespan.add(Recorded("c", journal))
    app = FastAPI(lifespan=lifespan)

    async with LifespanManager(app):
        assert journal == ["start a", "enter b", "start c"]
    assert journal[3:] == ["close c", "exit b", "close a"]


async def test_a_resource_that_fails_to_start_stops_those_already_started() -> None:
    journal: list[str] = []
    lifespan = Lifespan(
        Recorded("a", journal), Recorded("b", journal, fail_start=True), Recorded("c", journal)
    )
    with pytest.raises(ConnectionError, match="b is unreachable"):
        async with lifespan(FastAPI()):
            pytest.fail("the app must not start")
    assert journal == ["start a", "close a"]


async def test_a_resource_that_fails_to_stop_does_not_keep_the_others_running() -> None:
    journal: list[str] = []
    lifespan = Lifespan(Recorded("a", journal), Recorded("b", journal, fail_close=True))
    with pytest.raises(ConnectionError, match="b did not close"):
        async with lifespan(FastAPI()):
            pass
    assert journal == ["start a", "start b", "close b", "close a"]


async def test_the_lifespan_runs_again_after_a_restart() -> None:
    journal: list[str] = []
    app = FastAPI(lifespan=Lifespan(Recorded("a", journal)))
    for _ in range(2):
        async with LifespanManager(app):
            pass
    assert journal == ["start a", "close a", "start a", "close a"]


def test_something_it_cannot_start_is_refused_at_once() -> None:
    with pytest.raises(ConfigurationError, match="str is neither"):
        Lifespan("amqp://rabbit")  # type: ignore[arg-type]  # the point: a wrong resource

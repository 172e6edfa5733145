"""StreamingRequestMediator: items after their events; closing ends the handler, then the scope."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pydantic
import pytest

from cqrs_worker import (
    Command,
    DefaultContainer,
    DomainEvent,
    Event,
    EventMap,
    InMemoryEventEmitter,
    NotificationEvent,
    RequestMap,
    bootstrap_streaming,
)
from cqrs_worker.errors import ConfigurationError, HandlerNotFoundError
from cqrs_worker.streaming_mediator import StreamingRequestMediator


class RowDone(pydantic.BaseModel):
    row: int


class Import(Command[RowDone]):
    rows: int


class RowStored(DomainEvent):
    row: int


class RowPayload(pydantic.BaseModel):
    row: int


class RowPublished(NotificationEvent[RowPayload]):
    event_name: str = "RowPublished"
    topic: str = "rows"


@dataclass
class Log:
    lines: list[str] = field(default_factory=list)
    blocked: asyncio.Event = field(default_factory=asyncio.Event)


class Session:
    """A per-message resource: its factory's cleanup shows when the scope ends."""


class ImportRows:
    def __init__(self, log: Log, session: Session) -> None:
        self.log = log
        self.events: list[Event] = []

    async def handle(self, request: Import) -> AsyncIterator[RowDone]:
        try:
            for row in range(request.rows):
                self.events.append(RowStored(row=row))
                self.events.append(RowPublished(payload=RowPayload(row=row)))
                self.log.lines.append(f"stored {row}")
                yield RowDone(row=row)
            self.events.append(RowStored(row=-1))  # after the last item
        finally:
            self.log.lines.append("handler closed")


class ImportForever(ImportRows):
    async def handle(self, request: Import) -> AsyncIterator[RowDone]:
        try:
            yield RowDone(row=0)
            await asyncio.Event().wait()  # a slow step, cancelled by the consumer going away
            yield RowDone(row=1)
        finally:
            self.log.lines.append("handler closed")


class ClearingImport(ImportRows):
    """python-cqrs's shape: the mediator calls clear_events() after dispatching."""

    def clear_events(self) -> None:
        self.log.lines.append("cleared")
        self.events.clear()


class RecordRow:
    def __init__(self, log: Log) -> None:
        self.log = log

    async def handle(self, event: RowStored) -> None:
        self.log.lines.append(f"event {event.row}")


class NotAStream:
    async def handle(self, request: Import) -> RowDone:
        return RowDone(row=0)


def build(
    handler: type, emitter: InMemoryEventEmitter | None = None
) -> tuple[StreamingRequestMediator, Log]:
    log = Log()
    requests = RequestMap()
    requests.bind(Import, handler)
    events = EventMap()
    events.bind(RowStored, RecordRow)
    container = DefaultContainer()
    container.register_instance(Log, log)

    async def session() -> AsyncIterator[Session]:
        log.lines.append("scope opened")
        try:
            yield Session()
        finally:  # also on an early close, when the container closes the factory
            log.lines.append("scope closed")

    container.register_factory(Session, session, lifetime="message")
    mediator = bootstrap_streaming(
        requests=requests,
        events=events,
        container=container,
        emitter=emitter if emitter is not None else InMemoryEventEmitter(),
        middlewares=(),
    )
    return mediator, log


async def test_each_item_comes_after_the_events_emitted_up_to_it() -> None:
    emitter = InMemoryEventEmitter()
    mediator, log = build(ImportRows, emitter)
    seen: list[tuple[int, int]] = []

    async for done in mediator.stream(Import(rows=3)):
        log.lines.append(f"got {done.row}")
        seen.append((done.row, len(emitter.events)))

    assert seen == [(0, 1), (1, 2), (2, 3)]  # the broker event of each row left before it
    assert [e.payload.row for e in emitter.events] == [0, 1, 2]  # type: ignore[attr-defined]
    assert log.lines == [
        "scope opened",
        "stored 0",
        "event 0",
        "got 0",
        "stored 1",
        "event 1",
        "got 1",
        "stored 2",
        "event 2",
        "got 2",
        "handler closed",  # the handler returned ...
        "event -1",  # ... then what it emitted after its last item went out
        "scope closed",
    ]


async def test_clear_events_is_called_and_nothing_is_dispatched_twice() -> None:
    mediator, log = build(ClearingImport)

    rows = [done.row async for done in mediator.stream(Import(rows=2))]

    assert rows == [0, 1]
    assert [line for line in log.lines if line.startswith("event")] == [
        "event 0",
        "event 1",
        "event -1",
    ]
    assert log.lines.count("cleared") == 3


async def test_closing_the_stream_early_closes_the_handler_then_the_scope() -> None:
    mediator, log = build(ImportRows)

    async with contextlib.aclosing(mediator.stream(Import(rows=100))) as stream:
        async for done in stream:
            if done.row == 1:
                break

    assert log.lines[-4:] == ["stored 1", "event 1", "handler closed", "scope closed"]
    assert "stored 2" not in log.lines


async def test_cancelling_the_consumer_closes_the_handler_and_the_scope() -> None:
    mediator, log = build(ImportForever)
    first = asyncio.Event()

    async def consume() -> None:
        async for _ in mediator.stream(Import(rows=1)):
            first.set()

    task = asyncio.create_task(consume())
    await first.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert log.lines[-2:] == ["handler closed", "scope closed"]


async def test_a_handler_that_does_not_stream_is_a_configuration_error() -> None:
    mediator, log = build(NotAStream)

    with pytest.raises(ConfigurationError, match="must be an async generator"):
        async for _ in mediator.stream(Import(rows=1)):
            pass
    assert log.lines == []  # NotAStream asks for no Session: the scope had nothing to close


async def test_an_unbound_request_raises_handler_not_found() -> None:
    mediator = StreamingRequestMediator(RequestMap(), DefaultContainer())

    with pytest.raises(HandlerNotFoundError):
        async for _ in mediator.stream(Import(rows=1)):
            pass


async def test_events_without_an_event_mediator_are_a_configuration_error() -> None:
    requests = RequestMap()
    requests.bind(Import, ImportRows)
    container = DefaultContainer()
    container.register_instance(Log, Log())
    container.register_instance(Session, Session())
    mediator = StreamingRequestMediator(requests, container)

    with pytest.raises(ConfigurationError, match="has no event_mediator"):
        async for _ in mediator.stream(Import(rows=1)):
            pass

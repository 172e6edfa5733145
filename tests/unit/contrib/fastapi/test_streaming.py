"""A FastAPI route streaming a StreamingRequestMediator as server-sent events (in-process ASGI)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import httpx
import orjson
import pydantic
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from cqrs_worker import (
    Command,
    DCResponse,
    DefaultContainer,
    Event,
    InMemoryEventEmitter,
    NotificationEvent,
    RequestMap,
    bootstrap_streaming,
)
from cqrs_worker.contrib.fastapi.streaming import SSE_MEDIA_TYPE, sse_frames, sse_response


class Progress(pydantic.BaseModel):
    row: int
    of: int


class Import(Command[Progress]):
    rows: int


class RowPayload(pydantic.BaseModel):
    row: int


class RowImported(NotificationEvent[RowPayload]):
    event_name: str = "RowImported"
    topic: str = "imports"


@dataclasses.dataclass
class Trail:
    closed: list[str] = dataclasses.field(default_factory=list)


class ImportRows:
    def __init__(self, trail: Trail) -> None:
        self.trail = trail
        self.events: list[Event] = []

    async def handle(self, request: Import) -> AsyncIterator[Progress]:
        try:
            for row in range(1, request.rows + 1):
                self.events.append(RowImported(payload=RowPayload(row=row)))
                yield Progress(row=row, of=request.rows)
                await asyncio.sleep(0)
        finally:
            self.trail.closed.append("handler")


class Summary(DCResponse):
    """A python-cqrs style dataclass item: serialized through pydantic_core."""

    rows: int


async def summaries() -> AsyncIterator[Summary]:
    yield Summary(rows=2)


def app() -> tuple[FastAPI, InMemoryEventEmitter, Trail]:
    requests = RequestMap()
    requests.bind(Import, ImportRows)
    trail = Trail()
    container = DefaultContainer()
    container.register_instance(Trail, trail)
    emitter = InMemoryEventEmitter()
    streaming = bootstrap_streaming(requests=requests, container=container, emitter=emitter)
    api = FastAPI()

    @api.get("/imports/{rows}")
    async def run_import(rows: int) -> StreamingResponse:
        return sse_response(streaming.stream(Import(rows=rows)), event="progress")

    return api, emitter, trail


async def test_the_stream_arrives_as_server_sent_events_with_its_events_published() -> None:
    api, emitter, trail = app()
    transport = httpx.ASGITransport(app=api)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/imports/3")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith(SSE_MEDIA_TYPE)
    frames = [frame for frame in response.text.split("\n\n") if frame]
    assert frames == [f'event: progress\ndata: {{"row":{n},"of":3}}' for n in (1, 2, 3)]
    assert [e.payload.row for e in emitter.events] == [1, 2, 3]  # type: ignore[attr-defined]
    assert trail.closed == ["handler"]


async def test_dataclass_items_are_framed_as_json() -> None:
    frames = [frame async for frame in sse_frames(summaries())]

    assert frames == [b"data: " + orjson.dumps({"rows": 2}) + b"\n\n"]


async def test_a_consumer_stopping_early_closes_the_stream() -> None:
    emitter, trail = InMemoryEventEmitter(), Trail()
    requests = RequestMap()
    requests.bind(Import, ImportRows)
    container = DefaultContainer()
    container.register_instance(Trail, trail)
    streaming = bootstrap_streaming(requests=requests, container=container, emitter=emitter)
    frames = sse_frames(streaming.stream(Import(rows=100)))

    first = await anext(frames)
    await frames.aclose()  # what the server does with the body when the client leaves

    assert first.startswith(b"data: ")
    assert trail.closed == ["handler"]
    assert len(emitter.events) == 1

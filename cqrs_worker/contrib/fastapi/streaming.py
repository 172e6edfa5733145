"""Server-sent events from a :class:`~cqrs_worker.StreamingRequestMediator` stream.

::

    @app.get("/imports/{rows}")
    async def run_import(rows: int) -> StreamingResponse:
        return sse_response(streaming.stream(Import(rows=rows)))

Each item becomes one ``data:`` frame holding its JSON (pydantic models,
dataclasses and plain values alike). When the client goes away the server
cancels the response, which closes the stream: the handler's generator and
its container scope end at once.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import orjson
import pydantic
import pydantic_core
from fastapi.responses import StreamingResponse

__all__ = ["SSE_MEDIA_TYPE", "sse_frames", "sse_response"]

SSE_MEDIA_TYPE = "text/event-stream"


def _json(item: Any) -> bytes:
    if isinstance(item, pydantic.BaseModel):
        return item.model_dump_json().encode()
    return orjson.dumps(item, default=pydantic_core.to_jsonable_python)


async def sse_frames(
    stream: AsyncGenerator[Any, None], *, event: str | None = None
) -> AsyncIterator[bytes]:
    """``stream``'s items as SSE frames; the stream is closed however this ends."""
    prefix = f"event: {event}\n".encode() if event is not None else b""
    async with contextlib.aclosing(stream):
        async for item in stream:
            yield prefix + b"data: " + _json(item) + b"\n\n"


def sse_response(
    stream: AsyncGenerator[Any, None], *, event: str | None = None
) -> StreamingResponse:
    """A ``text/event-stream`` response of ``stream``'s items (``event:`` names each frame)."""
    return StreamingResponse(
        sse_frames(stream, event=event),
        media_type=SSE_MEDIA_TYPE,
        # Proxies must pass frames on as they come, not buffer the stream.
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )

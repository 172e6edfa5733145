"""OpenTelemetry SDK helpers for tests: an in-process provider, and spans written to a file.

In the test process, :func:`use_provider` installs a real SDK
``TracerProvider`` (with an ``InMemorySpanExporter``) as the global provider
for one test and puts the API's proxy back afterwards, so other tests still
run with tracing off. Worker and relay processes call
:func:`install_file_exporter`: every span they end is appended as one JSON
line to a file the test reads with :func:`read_spans`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

__all__ = [
    "JsonLinesSpanExporter",
    "RaisingSpanProcessor",
    "SpanRecord",
    "install_file_exporter",
    "read_spans",
    "use_provider",
]


def use_provider(
    monkeypatch: pytest.MonkeyPatch, provider: TracerProvider | None = None
) -> tuple[TracerProvider, InMemorySpanExporter]:
    """Make ``provider`` (default: a new one exporting to memory) the global one for this test.

    ``trace.set_tracer_provider`` works once per process, so this patches the
    API's module global instead; monkeypatch restores it (to the proxy).
    """
    exporter = InMemorySpanExporter()
    if provider is None:
        provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", provider)
    return provider, exporter


class RaisingSpanProcessor(SpanProcessor):
    """A span processor that raises on start and end (the SDK does not catch these)."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        raise RuntimeError("span processor broke on start")

    def on_end(self, span: ReadableSpan) -> None:
        raise RuntimeError("span processor broke on end")


class JsonLinesSpanExporter(SpanExporter):
    """Appends each span as one JSON line (see :class:`SpanRecord`) to ``path``."""

    def __init__(self, path: Path | str, *, service: str) -> None:
        self._path = Path(path)
        self._service = service
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = [json.dumps(_record(span, self._service)) + "\n" for span in spans]
        with self._lock, self._path.open("a", encoding="utf-8") as out:
            out.writelines(lines)
            out.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def install_file_exporter(path: Path | str, *, service: str) -> TracerProvider:
    """Install the global SDK provider of a worker or relay process, spans to ``path``."""
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(path, service=service)))
    trace.set_tracer_provider(provider)
    return provider


@dataclass(frozen=True)
class SpanRecord:
    """A finished span as read back from a JSON-lines file (ids in lowercase hex)."""

    service: str
    name: str
    kind: str
    trace_id: str
    span_id: str
    parent_span_id: str | None
    status: str
    attributes: dict[str, Any]
    events: list[dict[str, Any]]


def read_spans(*paths: Path) -> list[SpanRecord]:
    """Every span written to ``paths`` (missing files count as empty)."""
    records = []
    for path in paths:
        if not path.exists():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                records.append(SpanRecord(**json.loads(line)))
    return records


def _record(span: ReadableSpan, service: str) -> dict[str, Any]:
    context = span.get_span_context()
    assert context is not None
    parent = span.parent
    return {
        "service": service,
        "name": span.name,
        "kind": span.kind.name,
        "trace_id": f"{context.trace_id:032x}",
        "span_id": f"{context.span_id:016x}",
        "parent_span_id": f"{parent.span_id:016x}" if parent is not None else None,
        "status": span.status.status_code.name,
        "attributes": dict(span.attributes or {}),
        "events": [
            {"name": event.name, "attributes": dict(event.attributes or {})}
            for event in span.events
        ],
    }

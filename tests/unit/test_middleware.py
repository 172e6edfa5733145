"""Middleware: composed once at construction, first outermost; LoggingMiddleware."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest

from cqrs_worker import middleware as middleware_module
from cqrs_worker.container import DefaultContainer
from cqrs_worker.event_mediator import EventMediator
from cqrs_worker.maps import EventMap, RequestMap
from cqrs_worker.middleware import CallNext, LoggingMiddleware, Middleware, compose
from cqrs_worker.request_mediator import RequestMediator
from cqrs_worker.requests import Command


class Greet(Command):
    name: str


class Explode(Command):
    pass


class GreetHandler:
    async def handle(self, request: Greet) -> str:
        return f"hello {request.name}"


class ExplodeHandler:
    async def handle(self, request: Explode) -> None:
        raise RuntimeError("boom")


class Tracing:
    """A middleware that records when it runs around the next one."""

    instances = 0

    def __init__(self, name: str, trace: list[str]) -> None:
        Tracing.instances += 1
        self.name = name
        self.trace = trace

    async def __call__(self, message: Any, call_next: CallNext, /) -> Any:
        self.trace.append(f"{self.name} before")
        result = await call_next(message)
        self.trace.append(f"{self.name} after")
        return result


def request_mediator(middlewares: list[Middleware]) -> RequestMediator:
    requests = RequestMap()
    requests.bind(Greet, GreetHandler)
    requests.bind(Explode, ExplodeHandler)
    return RequestMediator(requests, DefaultContainer(), middlewares=middlewares)


async def test_compose_puts_the_first_middleware_outermost() -> None:
    trace: list[str] = []

    async def handler(message: Any) -> str:
        trace.append("handler")
        return f"handled {message}"

    call = compose([Tracing("a", trace), Tracing("b", trace)], handler)

    assert await call("m") == "handled m"
    assert trace == ["a before", "b before", "handler", "b after", "a after"]


async def test_compose_without_middlewares_is_the_handler_itself() -> None:
    async def handler(message: Any) -> Any:
        return message

    assert compose([], handler) is handler


async def test_mediator_runs_middlewares_around_the_handler() -> None:
    trace: list[str] = []
    mediator = request_mediator([Tracing("outer", trace), Tracing("inner", trace)])

    assert await mediator.send(Greet(name="ann")) == "hello ann"
    assert trace == ["outer before", "inner before", "inner after", "outer after"]


async def test_middlewares_are_composed_once_at_construction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    binds: list[object] = []
    real_bind = middleware_module._bind

    def counting_bind(middleware: Middleware, call_next: CallNext) -> CallNext:
        binds.append(middleware)
        return real_bind(middleware, call_next)

    monkeypatch.setattr(middleware_module, "_bind", counting_bind)
    trace: list[str] = []
    Tracing.instances = 0
    chain: list[Middleware] = [Tracing("a", trace), Tracing("b", trace)]
    mediator = request_mediator(chain)
    assert len(binds) == 2

    chain.append(Tracing("late", trace))  # the chain was already composed
    for _ in range(3):
        await mediator.send(Greet(name="ann"))

    assert len(binds) == 2, "sending must not compose the chain again"
    assert Tracing.instances == 3, "only the three constructed above"
    assert "late before" not in trace
    assert trace.count("a before") == 3


async def test_event_mediator_composes_once_too(monkeypatch: pytest.MonkeyPatch) -> None:
    binds: list[object] = []
    real_bind = middleware_module._bind

    def counting_bind(middleware: Middleware, call_next: CallNext) -> CallNext:
        binds.append(middleware)
        return real_bind(middleware, call_next)

    monkeypatch.setattr(middleware_module, "_bind", counting_bind)
    EventMediator(EventMap(), DefaultContainer(), middlewares=[LoggingMiddleware()])

    assert len(binds) == 1


async def test_middleware_may_answer_without_calling_next() -> None:
    async def cached(message: Any, call_next: CallNext) -> Any:
        return "from cache"

    mediator = request_mediator([cached])

    assert await mediator.send(Explode()) == "from cache"


async def test_middleware_sees_and_may_translate_exceptions() -> None:
    class Translated(Exception):
        pass

    async def translate(message: Any, call_next: CallNext) -> Any:
        try:
            return await call_next(message)
        except RuntimeError as exc:
            raise Translated(str(exc)) from exc

    mediator = request_mediator([translate])

    with pytest.raises(Translated, match="boom"):
        await mediator.send(Explode())


async def test_logging_middleware_logs_each_message_with_its_duration_at_debug(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="cqrs_worker.middleware")
    mediator = request_mediator([LoggingMiddleware()])

    assert await mediator.send(Greet(name="ann")) == "hello ann"

    records = [r for r in caplog.records if r.name == "cqrs_worker.middleware"]
    assert len(records) == 1
    record = records[0]
    assert record.levelno == logging.DEBUG
    assert re.fullmatch(r"handled Greet in \d+\.\d{3} ms", record.getMessage())
    assert record.msg == "handled %s in %.3f ms", "%-style arguments, not an f-string"
    assert isinstance(record.args, tuple)
    duration = record.args[1]
    assert isinstance(duration, float)
    assert 0 <= duration < 1_000


async def test_logging_middleware_is_silent_above_debug(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="cqrs_worker.middleware")
    mediator = request_mediator([LoggingMiddleware()])

    assert await mediator.send(Greet(name="ann")) == "hello ann"

    assert [r for r in caplog.records if r.name == "cqrs_worker.middleware"] == []


async def test_logging_middleware_leaves_failures_to_the_caller(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="cqrs_worker.middleware")
    mediator = request_mediator([LoggingMiddleware()])

    with pytest.raises(RuntimeError, match="boom"):
        await mediator.send(Explode())

    assert [r for r in caplog.records if r.name == "cqrs_worker.middleware"] == []


async def test_logging_middleware_uses_the_logger_it_is_given(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="app.commands")
    mediator = request_mediator([LoggingMiddleware(logging.getLogger("app.commands"))])

    await mediator.send(Greet(name="ann"))

    assert [r.name for r in caplog.records] == ["app.commands"]

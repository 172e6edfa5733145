"""Every error response of the app is application/problem+json (in-process ASGI, no network)."""

from __future__ import annotations

import logging

import httpx
import pydantic
import pytest
from fastapi import FastAPI, HTTPException
from fastapi.exceptions import RequestValidationError

from cqrs_worker import Command, DefaultContainer, RequestMap, bootstrap
from cqrs_worker.contrib.fastapi import PROBLEM_JSON, Mediator, ProblemRegistry, setup
from cqrs_worker.errors import ConfigurationError, PublishError


class OrderNotFound(Exception):
    pass


class OrderLocked(Exception):
    pass


class Fail(Command):
    kind: str


class FailHandler:
    async def handle(self, command: Fail) -> None:
        if command.kind == "not-found":
            raise OrderNotFound("there is no order 42")
        if command.kind == "locked":
            raise OrderLocked("order 42 is being edited")
        if command.kind == "publish":
            raise PublishError("amqp://app:s3cret@rabbit:5672/ did not confirm")
        if command.kind == "invalid":
            Fail.model_validate({"kind": 1})  # a request built from bad input
        raise RuntimeError("connection string postgresql://app:s3cret@db/prod")


class Body(pydantic.BaseModel):
    quantity: int


def build_app(problems: ProblemRegistry | None = None) -> FastAPI:
    requests = RequestMap()
    requests.bind(Fail, FailHandler)
    mediators = bootstrap(requests=requests, container=DefaultContainer())
    app = FastAPI()
    setup(app, mediator=mediators.requests, problems=problems)

    @app.post("/fail/{kind}")
    async def fail(kind: str, mediator: Mediator) -> None:
        await mediator.send(Fail(kind=kind))

    @app.post("/items")
    async def items(body: Body) -> Body:
        return body

    @app.get("/teapot")
    async def teapot() -> None:
        raise HTTPException(418, detail="short and stout", headers={"X-Pot": "1"})

    return app


def client(app: FastAPI, *, raise_app_exceptions: bool = True) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
    return httpx.AsyncClient(transport=transport, base_url="http://api")


def registry() -> ProblemRegistry:
    problems = ProblemRegistry()
    problems.register(OrderNotFound, status=404, title="Order not found", type="/problems/order")
    problems.register(OrderLocked, status=409, detail=None)
    return problems


async def test_a_registered_exception_becomes_its_problem() -> None:
    async with client(build_app(registry())) as api:
        answer = await api.post("/fail/not-found")
        locked = await api.post("/fail/locked")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == PROBLEM_JSON
    assert answer.json() == {
        "type": "/problems/order",
        "title": "Order not found",
        "status": 404,
        "detail": "there is no order 42",
        "instance": "/fail/not-found",
    }
    assert locked.status_code == 409
    assert locked.json() == {
        "type": "about:blank",
        "title": "Conflict",
        "status": 409,
        "instance": "/fail/locked",
    }


async def test_an_unregistered_exception_is_a_500_without_internals() -> None:
    async with client(build_app(registry()), raise_app_exceptions=False) as api:
        answer = await api.post("/fail/boom")
    assert answer.status_code == 500
    assert answer.headers["content-type"] == PROBLEM_JSON
    problem = answer.json()
    assert (problem["status"], problem["title"]) == (500, "Internal Server Error")
    assert problem["instance"] == "/fail/boom"
    assert "s3cret" not in answer.text
    assert "RuntimeError" not in answer.text


async def test_an_unexpected_exception_still_reaches_the_server() -> None:
    # Starlette re-raises after answering, so the server logs the traceback.
    async with client(build_app()) as api:
        with pytest.raises(RuntimeError, match="connection string"):
            await api.post("/fail/boom")


async def test_default_problems_for_our_errors(caplog: pytest.LogCaptureFixture) -> None:
    async with client(build_app()) as api:
        with caplog.at_level(logging.ERROR, logger="cqrs_worker.contrib.fastapi.handlers"):
            unconfirmed = await api.post("/fail/publish")
        invalid = await api.post("/fail/invalid")
    assert unconfirmed.status_code == 503
    assert unconfirmed.json()["title"] == "Service Unavailable"
    assert "s3cret" not in unconfirmed.text
    # A 5xx answered inside the app is logged here, with its traceback.
    (record,) = caplog.records
    assert "POST /fail/publish failed with PublishError (answered 503)" in record.getMessage()
    assert record.exc_info is not None
    assert invalid.status_code == 422
    assert invalid.json()["errors"] == [
        {"loc": ["kind"], "msg": "Input should be a valid string", "type": "string_type"}
    ]


async def test_fastapi_request_validation_is_a_problem() -> None:
    async with client(build_app()) as api:
        answer = await api.post("/items", json={"quantity": "lots"})
    assert answer.status_code == 422
    assert answer.headers["content-type"] == PROBLEM_JSON
    problem = answer.json()
    assert problem["instance"] == "/items"
    assert [e["loc"] for e in problem["errors"]] == [["body", "quantity"]]
    assert "lots" not in answer.text


async def test_http_exceptions_and_unknown_routes_are_problems() -> None:
    async with client(build_app()) as api:
        teapot = await api.get("/teapot")
        missing = await api.get("/nowhere")
        wrong_method = await api.delete("/items")
    assert teapot.status_code == 418
    assert teapot.headers["x-pot"] == "1"
    assert teapot.json() == {
        "type": "about:blank",
        "title": "I'm a Teapot",
        "status": 418,
        "detail": "short and stout",
        "instance": "/teapot",
    }
    assert (missing.status_code, missing.headers["content-type"]) == (404, PROBLEM_JSON)
    assert wrong_method.status_code == 405
    assert wrong_method.headers["allow"] == "POST"


def test_registering_after_setup_is_an_error() -> None:
    problems = registry()
    build_app(problems)
    with pytest.raises(ConfigurationError, match="frozen"):
        problems.register(KeyError, status=404)


async def test_a_registration_replaces_a_default() -> None:
    problems = ProblemRegistry()
    problems.register(RequestValidationError, status=400, title="Bad input", detail=None)
    async with client(build_app(problems)) as api:
        answer = await api.post("/items", json={"quantity": "lots"})
    assert answer.status_code == 400
    assert answer.json() == {
        "type": "about:blank",
        "title": "Bad input",
        "status": 400,
        "instance": "/items",
    }

"""ProblemRegistry: the most specific class wins, defaults, validation, freezing."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from cqrs_worker.contrib.fastapi import ProblemRegistry
from cqrs_worker.errors import (
    ConfigurationError,
    EventHandlingError,
    HandlerFailure,
    HandlerNotFoundError,
    HandlerTimeoutError,
    PublishError,
)


class NotFound(Exception):
    pass


class OrderNotFound(NotFound):
    pass


class InvoiceNotFound(NotFound):
    pass


class Conflict(Exception):
    pass


class Both(Conflict, NotFound):
    pass


def body(registry: ProblemRegistry, exc: BaseException) -> dict[str, Any]:
    problem, described = registry.resolve(exc)
    return problem.body(described, instance="/here")


def test_the_most_specific_registered_class_wins() -> None:
    registry = ProblemRegistry()
    registry.register(NotFound, status=404)
    registry.register(OrderNotFound, status=410, title="Order gone")
    registry.register(Conflict, status=409)

    assert body(registry, OrderNotFound("order 7")) == {
        "type": "about:blank",
        "title": "Order gone",
        "status": 410,
        "detail": "order 7",
        "instance": "/here",
    }
    assert body(registry, InvoiceNotFound("invoice 9"))["status"] == 404  # inherits NotFound's
    assert body(registry, Both("x"))["status"] == 409  # the first base in the MRO


def test_registration_order_does_not_matter() -> None:
    registry = ProblemRegistry()
    registry.register(OrderNotFound, status=410)
    registry.register(NotFound, status=404)
    assert body(registry, OrderNotFound())["status"] == 410


def test_type_title_and_detail_are_configurable() -> None:
    registry = ProblemRegistry()
    registry.register(
        NotFound,
        status=404,
        type="https://errors.example/not-found",
        detail=lambda e: f"no {e.args[0]}",
    )
    registry.register(Conflict, status=409, detail=None)
    assert body(registry, NotFound("order")) == {
        "type": "https://errors.example/not-found",
        "title": "Not Found",
        "status": 404,
        "detail": "no order",
        "instance": "/here",
    }
    assert "detail" not in body(registry, Conflict("internal: lock 0x42 held"))


def test_extensions_add_members() -> None:
    registry = ProblemRegistry()
    registry.register(NotFound, status=404, extensions=lambda e: {"resource": e.args[0]})
    assert body(registry, NotFound("order"))["resource"] == "order"


def test_an_unknown_exception_is_a_500_that_says_nothing_about_it() -> None:
    registry = ProblemRegistry()
    for exc in (RuntimeError("password=hunter2 at db:5432"), HandlerNotFoundError("wiring")):
        answer = body(registry, exc)
        assert answer["status"] == 500
        assert answer["title"] == "Internal Server Error"
        assert "hunter2" not in str(answer)
        assert "wiring" not in str(answer)


class Item(pydantic.BaseModel):
    quantity: int


def test_defaults_cover_validation_publishing_and_timeouts() -> None:
    registry = ProblemRegistry()
    with pytest.raises(pydantic.ValidationError) as invalid:
        Item.model_validate({"quantity": "many"})
    answer = body(registry, invalid.value)
    assert answer["status"] == 422
    assert answer["errors"] == [
        {
            "loc": ["quantity"],
            "msg": "Input should be a valid integer, unable to parse string as an integer",
            "type": "int_parsing",
        }
    ]
    assert "many" not in str(answer), "the rejected input is not echoed"

    unconfirmed = body(registry, PublishError("amqp://app:secret@rabbit: no confirm"))
    assert unconfirmed["status"] == 503
    assert "secret" not in str(unconfirmed)
    assert body(registry, TimeoutError())["status"] == 504
    assert body(registry, HandlerTimeoutError("PlaceOrder", 5))["status"] == 504


def test_without_defaults_only_registrations_count() -> None:
    registry = ProblemRegistry(defaults=False)
    assert body(registry, TimeoutError())["status"] == 500
    assert registry.exception_types() == ()


def test_an_event_handling_error_is_answered_as_its_first_failure() -> None:
    registry = ProblemRegistry()
    registry.register(Conflict, status=409)

    class Handler:
        pass

    failures = [
        HandlerFailure(Handler, Conflict("stock taken")),
        HandlerFailure(Handler, OSError()),
    ]
    answer = body(registry, EventHandlingError(object(), failures))
    assert (answer["status"], answer["detail"]) == (409, "stock taken")
    unknown = EventHandlingError(object(), [HandlerFailure(Handler, OSError("disk"))])
    assert body(registry, unknown)["status"] == 500


@pytest.mark.parametrize("status", [200, 302, 399, 600])
def test_a_status_outside_4xx_5xx_is_refused(status: int) -> None:
    with pytest.raises(ConfigurationError, match="must be 400-599"):
        ProblemRegistry().register(NotFound, status=status)


@pytest.mark.parametrize("what", [NotFound(), KeyboardInterrupt, "NotFound"])
def test_only_exception_classes_can_be_registered(what: Any) -> None:
    with pytest.raises(ConfigurationError, match="Exception subclass"):
        ProblemRegistry().register(what, status=400)


def test_a_frozen_registry_refuses_registrations() -> None:
    registry = ProblemRegistry()
    registry.freeze()
    with pytest.raises(ConfigurationError, match=r"register NotFound before setup\(app"):
        registry.register(NotFound, status=404)

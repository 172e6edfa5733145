"""Which exception becomes which problem (RFC 9457): :class:`ProblemRegistry`.

A registry maps exception classes to a :class:`ProblemType` (status, title,
type URI, how to write the detail). The most specific class wins: an
exception is looked up along its MRO, so ``OrderNotFound(NotFound)`` uses its
own entry when it has one and ``NotFound``'s otherwise. What no entry covers is
a 500 whose body says nothing about the cause (the traceback goes to the log).

The defaults, which a fresh registry starts with:

* ``pydantic.ValidationError`` and FastAPI's ``RequestValidationError`` ->
  422, with ``errors`` (``loc``, ``msg``, ``type`` of each; the rejected
  values are left out): a request body, or a command built from input, that
  does not validate.
* :class:`~cqrs_worker.errors.PublishError` -> 503: a broker did not confirm;
  the client may try again.
* ``TimeoutError`` (so also :class:`~cqrs_worker.errors.HandlerTimeoutError`)
  -> 504.
* An :class:`~cqrs_worker.errors.EventHandlingError` (a domain event handler
  run by the command failed) is answered as its first failure.
* Every other error, ours included (a ``ConfigurationError`` such as
  ``HandlerNotFoundError``, a ``DispatchError``), is a fault of the server:
  500, with no detail.

``HTTPException`` keeps its own status and detail; see
:mod:`cqrs_worker.contrib.fastapi.handlers`.
"""

from __future__ import annotations

import http
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import pydantic
from fastapi.exceptions import RequestValidationError

from cqrs_worker.errors import ConfigurationError, EventHandlingError, PublishError

__all__ = ["ProblemRegistry", "ProblemType", "validation_errors"]

E = TypeVar("E", bound=Exception)

#: What a problem says when nothing more may be said: unknown errors.
INTERNAL = "The server failed to handle the request; the error was logged."


@dataclass(frozen=True, slots=True)
class ProblemType:
    """How one kind of exception is answered.

    ``detail`` turns the exception into the ``detail`` member (``None``: a
    fixed ``default_detail``, or none); ``extensions`` adds members of its own
    (such as ``errors``).
    """

    status: int
    title: str
    type: str = "about:blank"
    detail: Callable[[Any], str | None] | None = None
    default_detail: str | None = None
    extensions: Callable[[Any], Mapping[str, Any]] | None = None

    def body(self, exc: BaseException, *, instance: str) -> dict[str, Any]:
        """The problem+json object for ``exc`` raised while serving ``instance``."""
        detail = self.detail(exc) if self.detail is not None else None
        body: dict[str, Any] = {
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "detail": detail if detail is not None else self.default_detail,
            "instance": instance,
        }
        if body["detail"] is None:
            del body["detail"]
        if self.extensions is not None:
            body.update(self.extensions(exc))
        return body


#: The answer for anything no entry covers.
UNEXPECTED = ProblemType(status=500, title="Internal Server Error", default_detail=INTERNAL)


class ProblemRegistry:
    """Exception classes -> :class:`ProblemType`, most specific class first.

    Register before :func:`~cqrs_worker.contrib.fastapi.setup` installs the
    registry on an app; it is frozen from then on (FastAPI builds its
    exception handlers once).
    """

    def __init__(self, *, defaults: bool = True) -> None:
        self._types: dict[type[BaseException], ProblemType] = {}
        self._frozen = False
        if defaults:
            _register_defaults(self)

    def register(
        self,
        exception: type[E],
        *,
        status: int,
        title: str | None = None,
        type: str = "about:blank",  # the RFC's name for the member
        detail: Callable[[E], str | None] | None = str,
        extensions: Callable[[E], Mapping[str, Any]] | None = None,
    ) -> None:
        """Answer ``exception`` (and its subclasses without an entry) with ``status``.

        ``title`` defaults to the status phrase; ``type`` is a URI naming the
        problem (``about:blank``: the status says it all). ``detail`` defaults
        to the exception's message, which the client then sees; pass
        ``detail=None`` for exceptions whose messages are not for clients.
        """
        _check_exception_class(exception)
        if self._frozen:
            raise ConfigurationError(
                f"register {exception.__qualname__} before setup(app, problems=...): "
                f"the registry is frozen once an app uses it"
            )
        if not 400 <= status <= 599:
            raise ConfigurationError(
                f"the status for {exception.__qualname__} must be 400-599, not {status}"
            )
        self._types[exception] = ProblemType(
            status=status,
            title=title if title is not None else http.HTTPStatus(status).phrase,
            type=type,
            detail=detail,
            extensions=extensions,
        )

    def exception_types(self) -> tuple[type[BaseException], ...]:
        """The registered classes (what the app installs handlers for)."""
        return tuple(self._types)

    def freeze(self) -> None:
        """Refuse further registrations (done by ``setup``)."""
        self._frozen = True

    def resolve(self, exc: BaseException) -> tuple[ProblemType, BaseException]:
        """The entry for ``exc`` and the exception it describes (an event failure unwrapped)."""
        if isinstance(exc, EventHandlingError) and exc.failures:
            return self.resolve(exc.failures[0].exception)
        for cls in type(exc).__mro__:
            problem = self._types.get(cls)
            if problem is not None:
                return problem, exc
        return UNEXPECTED, exc


def _check_exception_class(exception: object) -> None:
    # Typed as type[Exception], but called from untyped code too.
    if not (inspect.isclass(exception) and issubclass(exception, Exception)):
        raise ConfigurationError(f"register an Exception subclass, not {exception!r}")


def validation_errors(exc: Any) -> dict[str, Any]:
    """``errors``: where and why validation failed, without the rejected input."""
    return {
        "errors": [
            {"loc": list(error.get("loc", ())), "msg": error.get("msg"), "type": error.get("type")}
            for error in exc.errors()
        ]
    }


def _register_defaults(registry: ProblemRegistry) -> None:
    invalid = ProblemType(
        status=422,
        title="Unprocessable Content",
        default_detail="The request is not valid.",
        extensions=validation_errors,
    )
    registry._types[pydantic.ValidationError] = invalid
    registry._types[RequestValidationError] = invalid
    registry._types[PublishError] = ProblemType(
        status=503,
        title="Service Unavailable",
        default_detail="A message broker did not confirm; try again later.",
    )
    registry._types[TimeoutError] = ProblemType(
        status=504,
        title="Gateway Timeout",
        default_detail="A service this request needs did not answer in time.",
    )

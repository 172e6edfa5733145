"""Exceptions to ``application/problem+json`` responses: :func:`install_problem_handlers`.

Every error response of the app becomes an RFC 9457 problem: what route
handlers (and the commands they send) raise, looked up in a
:class:`~cqrs_worker.contrib.fastapi.ProblemRegistry` (FastAPI's request
validation errors among its defaults), and ``HTTPException`` (its status, its
detail when that is a string, its headers; unknown routes are 404s too).

Where each is handled, which decides who logs it: registered classes (and
``EventHandlingError``) are answered inside the app, and 5xx answers among
them are logged here with their traceback. Anything else reaches Starlette's
outermost error handler, which answers with our 500 problem and re-raises,
so that the server logs the traceback (and a test client may raise it).
"""

from __future__ import annotations

import http
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from cqrs_worker.contrib.fastapi.problems import UNEXPECTED, ProblemRegistry, ProblemType
from cqrs_worker.errors import EventHandlingError

__all__ = ["PROBLEM_JSON", "install_problem_handlers", "problem_response"]

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


def problem_response(
    problem: ProblemType,
    exc: BaseException,
    request: Request,
    *,
    headers: dict[str, str] | None = None,
) -> Response:
    """The problem+json response for ``exc`` under ``problem``."""
    return JSONResponse(
        problem.body(exc, instance=request.url.path),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def install_problem_handlers(app: FastAPI, registry: ProblemRegistry) -> None:
    """Answer the app's errors with problems from ``registry`` (which is frozen here)."""
    registry.freeze()

    async def registered(request: Request, exc: Exception) -> Response:
        problem, described = registry.resolve(exc)
        if problem.status >= 500:
            logger.error(
                "%s %s failed with %s (answered %d)",
                request.method,
                request.url.path,
                type(described).__name__,
                problem.status,
                exc_info=exc,
            )
        return problem_response(problem, described, request)

    async def unexpected(request: Request, exc: Exception) -> Response:
        # Starlette re-raises after this response: the server logs the traceback.
        return problem_response(UNEXPECTED, exc, request)

    # HTTPException first, so that a registration of it (or of a subclass) wins.
    app.add_exception_handler(HTTPException, _http_exception)
    for exception in (*registry.exception_types(), EventHandlingError):
        app.add_exception_handler(exception, registered)
    app.add_exception_handler(Exception, unexpected)


async def _http_exception(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    detail: Any = getattr(exc, "detail", None)
    problem = ProblemType(
        status=status,
        title=_phrase(status),
        detail=lambda _: detail if isinstance(detail, str) else None,
    )
    headers = getattr(exc, "headers", None)
    if status in (204, 304):  # no body allowed
        return Response(status_code=status, headers=headers)
    return problem_response(problem, exc, request, headers=headers)


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"

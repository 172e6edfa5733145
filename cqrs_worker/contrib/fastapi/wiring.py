"""One call wires an app: :func:`setup`."""

from __future__ import annotations

from fastapi import FastAPI

from cqrs_worker.contrib.fastapi.dependency import Binding, bind
from cqrs_worker.contrib.fastapi.handlers import install_problem_handlers
from cqrs_worker.contrib.fastapi.problems import ProblemRegistry
from cqrs_worker.errors import ConfigurationError
from cqrs_worker.inbox import UnitOfWork
from cqrs_worker.request_mediator import RequestMediator

__all__ = ["setup"]


def setup(
    app: FastAPI,
    *,
    mediator: RequestMediator,
    unit_of_work: UnitOfWork | None = None,
    problems: ProblemRegistry | None = None,
) -> None:
    """Give ``app``'s routes the request mediator and answer its errors as problems.

    ``mediator`` is what :data:`~cqrs_worker.contrib.fastapi.Mediator` gives,
    in a container scope per request. With ``unit_of_work`` (built on the
    mediator's container, its :attr:`~cqrs_worker.inbox.UnitOfWork.emitter`
    given to ``bootstrap``), each request runs in one transaction with its
    outbox rows. ``problems`` (default: a registry with the defaults) maps
    exceptions to responses; it is frozen here. Call it where the app is
    built, before it starts.
    """
    if unit_of_work is not None and unit_of_work.container is not mediator.container:
        raise ConfigurationError(
            "the unit of work and the mediator use different containers; build the "
            "UnitOfWork with container=<the container given to bootstrap()>"
        )
    bind(app, Binding(mediator=mediator, unit_of_work=unit_of_work))
    install_problem_handlers(app, problems if problems is not None else ProblemRegistry())

"""FastAPI integration (``pip install 'cqrs-worker[fastapi]'``).

::

    app = FastAPI(lifespan=Lifespan(broker))
    setup(app, mediator=mediators.requests, unit_of_work=unit_of_work, problems=problems)

    @app.post("/orders", status_code=201)
    async def place_order(body: OrderIn, mediator: Mediator) -> OrderOut:
        return await mediator.send(PlaceOrder(...))

* :data:`Mediator`: the request mediator in a container scope per HTTP
  request; with a unit of work, one transaction per request that holds the
  handlers' writes and their outbox rows, committed before the response when
  the route returns, rolled back when it raises (:mod:`.dependency`).
* :class:`Lifespan`: starts brokers and other resources with the app, stops
  them in reverse order (:mod:`.lifespan`).
* :class:`ProblemRegistry`: exceptions to RFC 9457 ``application/problem+json``
  responses, most specific class first, with defaults for our errors
  (:mod:`.problems`, :mod:`.handlers`).
"""

try:
    import fastapi  # noqa: F401  # the one place the extra is checked
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "cqrs_worker.contrib.fastapi needs FastAPI: pip install 'cqrs-worker[fastapi]'"
    ) from exc

from cqrs_worker.contrib.fastapi.dependency import (
    Mediator,
    Session,
    request_mediator,
    request_session,
)
from cqrs_worker.contrib.fastapi.handlers import PROBLEM_JSON, problem_response
from cqrs_worker.contrib.fastapi.lifespan import Lifespan, Startable
from cqrs_worker.contrib.fastapi.problems import ProblemRegistry, ProblemType
from cqrs_worker.contrib.fastapi.wiring import setup

__all__ = [
    "PROBLEM_JSON",
    "Lifespan",
    "Mediator",
    "ProblemRegistry",
    "ProblemType",
    "Session",
    "Startable",
    "problem_response",
    "request_mediator",
    "request_session",
    "setup",
]

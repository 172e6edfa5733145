"""A saga definition: ordered steps, each an action and a compensation, in code.

::

    order_saga = SagaDefinition(
        name="order",
        context=OrderContext,
        steps=[
            RemoteStep(
                name="reserve_stock",
                request=lambda call: ReserveStock(payload=call.message(sku=call.context.sku)),
                replies=(StockReserved,),
                compensation=lambda call: ReleaseStock(payload=call.message()),
                timeout=30,
            ),
            LocalStep(
                name="charge_payment",
                action=lambda call: ChargePayment(order_id=call.context.order_id),
                compensation=lambda call: RefundPayment(order_id=call.context.order_id),
            ),
        ],
    )

A :class:`LocalStep` sends a command through the request mediator, in the
transaction of the saga's state; if its handler raises, the step failed. A
:class:`RemoteStep` writes a request event to the outbox and waits for a
reply event carrying a :class:`SagaReply` (correlated by ``saga_id`` and
``step``); ``ok=False`` in the reply, or no reply before ``timeout`` seconds,
means it failed. A remote compensation is sent the same way and not waited
for: the other service must apply it exactly once (its inbox) and treat the
compensation of an action it never applied as done.

:class:`Fallback` puts a second step in the place of one that fails; the
saga compensates only when the fallback fails too.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import pydantic

from cqrs_worker.errors import ConfigurationError
from cqrs_worker.events import WireEvent
from cqrs_worker.requests import Request

__all__ = [
    "Fallback",
    "LocalStep",
    "RemoteStep",
    "SagaDefinition",
    "SagaMessage",
    "SagaReply",
    "SagaStatus",
    "Step",
    "StepCall",
]

C = TypeVar("C", bound=pydantic.BaseModel)


class SagaStatus(enum.StrEnum):
    """Where a saga is. ``completed``, ``compensated`` and ``failed`` are final
    until ``cqrs-worker sagas retry`` takes a ``failed`` one up again."""

    RUNNING = "running"
    COMPENSATING = "compensating"
    COMPLETED = "completed"
    COMPENSATED = "compensated"
    FAILED = "failed"


class SagaMessage(pydantic.BaseModel):
    """The payload fields every saga request carries: which saga, which step."""

    saga_id: uuid.UUID
    step: str


class SagaReply(SagaMessage):
    """The payload of a reply (``saga_id`` and ``step`` copied from the request):
    ``ok=False`` (with ``error``) fails the step.

    ``result`` is kept in the saga's step results (readable by later steps).
    """

    ok: bool = True
    error: str | None = None
    result: dict[str, Any] = pydantic.Field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StepCall(Generic[C]):
    """What a step's builders get: the saga, its context and earlier results.

    ``step`` is the name of the running step (a fallback's own name when it
    runs); a request carries it and its reply must name it again.
    ``results`` are keyed by the step's place (the primary's name).
    """

    saga_id: uuid.UUID
    step: str
    context: C
    results: Mapping[str, Any]

    def message(self, **fields: Any) -> dict[str, Any]:
        """Payload fields for a request of this step (``saga_id``, ``step`` and ``fields``)."""
        return {"saga_id": self.saga_id, "step": self.step, **fields}


@dataclass(frozen=True, slots=True)
class LocalStep(Generic[C]):
    """A command of this service, sent through the request mediator.

    What the handler returns (a pydantic model, a dict or ``None``) becomes
    the step's result. ``compensation=None``: nothing to undo.
    """

    name: str
    action: Callable[[StepCall[C]], Request]
    compensation: Callable[[StepCall[C]], Request] | None = None


@dataclass(frozen=True, slots=True)
class RemoteStep(Generic[C]):
    """A request event published through the outbox; done when a reply arrives.

    ``replies``: the reply event classes (payload a :class:`SagaReply`) this
    step accepts. ``timeout``: seconds to wait for one (``None``: forever).
    """

    name: str
    request: Callable[[StepCall[C]], WireEvent[Any]]
    replies: tuple[type[WireEvent[Any]], ...]
    compensation: Callable[[StepCall[C]], WireEvent[Any]] | None = None
    timeout: float | None = None


Action = LocalStep[Any] | RemoteStep[Any]


@dataclass(frozen=True, slots=True)
class Fallback(Generic[C]):
    """``step``, and ``fallback`` in its place when it fails (error, ``ok=False``, timeout)."""

    step: LocalStep[C] | RemoteStep[C]
    fallback: LocalStep[C] | RemoteStep[C]

    @property
    def name(self) -> str:
        return self.step.name


Step = LocalStep[Any] | RemoteStep[Any] | Fallback[Any]


@dataclass(frozen=True)
class SagaDefinition(Generic[C]):
    """A named, ordered list of steps over a pydantic ``context`` model."""

    name: str
    context: type[C]
    steps: Sequence[Step]
    #: Attempts of each local compensation before the saga is parked as ``failed``.
    compensation_attempts: int = 3
    #: Seconds before a failed compensation is tried again (doubling each time).
    compensation_backoff: float = 1.0
    _by_reply: dict[type[Any], int] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.name or len(self.name) > 100:
            raise ConfigurationError("a saga name must be 1 to 100 characters")
        if not self.steps:
            raise ConfigurationError(f"saga {self.name!r} has no steps")
        if self.compensation_attempts < 1:
            raise ConfigurationError(f"saga {self.name!r}: compensation_attempts must be >= 1")
        names = [step.name for step in self.steps]
        for duplicate in {n for n in names if names.count(n) > 1}:
            raise ConfigurationError(f"saga {self.name!r} has two steps named {duplicate!r}")
        for index, step in enumerate(self.steps):
            for action in variants(step):
                if isinstance(action, RemoteStep):
                    if not action.replies:
                        raise ConfigurationError(
                            f"saga {self.name!r}: remote step {action.name!r} names no reply"
                        )
                    if action.timeout is not None and action.timeout <= 0:
                        raise ConfigurationError(
                            f"saga {self.name!r}: step {action.name!r} timeout must be > 0"
                        )
                    for reply in action.replies:
                        _check_reply(self.name, action.name, reply)
                        self._by_reply[reply] = index

    def step(self, index: int) -> Step:
        return self.steps[index]

    def reply_types(self) -> tuple[type[WireEvent[Any]], ...]:
        """Every reply event class a step of this saga waits for."""
        return tuple(self._by_reply)


def _check_reply(saga: str, step: str, reply: type[Any]) -> None:
    payload = getattr(reply, "model_fields", {}).get("payload")
    kind = getattr(payload, "annotation", None)
    if not (isinstance(kind, type) and issubclass(kind, SagaReply)):
        raise ConfigurationError(
            f"saga {saga!r}: step {step!r} waits for {reply.__qualname__}, whose payload "
            f"must be a SagaReply: class {reply.__name__}(NotificationEvent[SagaReply])"
        )


def variants(step: Step) -> tuple[Action, ...]:
    """The primary action of a step, and its fallback if it has one."""
    if isinstance(step, Fallback):
        return (step.step, step.fallback)
    return (step,)


def action_of(step: Step, variant: int) -> Action:
    """Variant 0 is the step itself, 1 its fallback."""
    return variants(step)[variant]

"""The exceptions cqrs-worker raises, in one hierarchy.

::

    CqrsWorkerError
    ├── ConfigurationError           wrong set-up; raised at start-up, fix the code or settings
    │   ├── HandlerAlreadyBoundError  a request type bound to a second handler
    │   ├── HandlerNotFoundError      a request sent that no handler is bound to
    │   ├── EventNameConflictError    two event classes registered under one event name
    │   └── ResolutionError           the container cannot build a dependency
    ├── DispatchError                handling failed
    │   ├── EventHandlingError        one or more event handlers raised (all of them ran)
    │   ├── EventCycleError           emitted events kept triggering each other
    │   ├── PermanentError            raise it in a handler: dead-letter now, do not retry
    │   ├── HandlerTimeoutError       an attempt ran past HANDLER_TIMEOUT (also a TimeoutError)
    │   └── RetriesExhaustedError     the worker gave up on a delivery; it is dead-lettered
    ├── PublishError                 a broker did not confirm a publish; nothing was dropped
    └── DecodeError                  bytes that are not a valid event; dead-letter them
        ├── MessageTooLargeError      body over the configured size limit
        ├── NotJsonError              not JSON (or not UTF-8)
        ├── NotAnEnvelopeError        JSON, but not an event envelope
        ├── UnknownEventError         an envelope whose event name nobody registered
        └── PayloadValidationError    an envelope whose fields fail validation

:class:`HandlerTimeoutError` also derives from the built-in ``TimeoutError``.
Every :class:`DecodeError` carries a short ``reason`` code and whatever it could
read of the message (``event_name``, ``event_id``), which is what a dead-letter
record needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ConfigurationError",
    "CqrsWorkerError",
    "DecodeError",
    "DispatchError",
    "EventCycleError",
    "EventHandlingError",
    "EventNameConflictError",
    "HandlerAlreadyBoundError",
    "HandlerFailure",
    "HandlerNotFoundError",
    "HandlerTimeoutError",
    "MessageTooLargeError",
    "NotAnEnvelopeError",
    "NotJsonError",
    "PayloadValidationError",
    "PermanentError",
    "PublishError",
    "ResolutionError",
    "RetriesExhaustedError",
    "UnknownEventError",
]


class CqrsWorkerError(Exception):
    """Base of every exception cqrs-worker raises on purpose."""


class ConfigurationError(CqrsWorkerError):
    """The application is wired wrongly; the message says what to change."""


class HandlerAlreadyBoundError(ConfigurationError):
    """A request type can have one handler only."""


class HandlerNotFoundError(ConfigurationError):
    """No handler is bound to the request that was sent."""


class EventNameConflictError(ConfigurationError):
    """Two different event classes claim the same ``event_name``."""


class ResolutionError(ConfigurationError):
    """The container could not build a handler or one of its dependencies."""


class DispatchError(CqrsWorkerError):
    """Handling a message failed."""


@dataclass(frozen=True, slots=True)
class HandlerFailure:
    """One handler that raised while an event was dispatched."""

    handler: Any  # a handler class, or the HandlerBinding bound in its place
    exception: BaseException


def _handler_name(handler: Any) -> str:
    # A HandlerBinding (a fallback) is an instance: it names itself with __name__.
    name = getattr(handler, "__qualname__", None) or getattr(handler, "__name__", None)
    return str(name) if name else repr(handler)


class EventHandlingError(DispatchError):
    """One or more handlers of an event raised.

    Every bound handler ran; ``failures`` lists those that raised, in bind
    order. The first failure is also the ``__cause__``.
    """

    def __init__(self, event: Any, failures: Sequence[HandlerFailure]) -> None:
        self.event = event
        self.failures = tuple(failures)
        names = ", ".join(
            f"{_handler_name(f.handler)}: {type(f.exception).__name__}: {f.exception}"
            for f in self.failures
        )
        super().__init__(
            f"{len(self.failures)} handler(s) of {type(event).__qualname__} failed ({names})"
        )


class EventCycleError(DispatchError):
    """Events emitted by event handlers nested deeper than the allowed depth."""


class PermanentError(DispatchError):
    """Raise this (or ``raise PermanentError(...) from exc``) in a handler when
    trying again cannot help: the worker dead-letters the event at once."""


class HandlerTimeoutError(DispatchError, TimeoutError):
    """A handling attempt ran longer than its limit and was cancelled; it is retried.

    The limit is ``HANDLER_TIMEOUT`` or the handler class's ``handler_timeout``.
    """

    def __init__(self, event_name: str, limit: float) -> None:
        self.event_name = event_name
        self.limit = limit
        super().__init__(
            f"handling {event_name} took longer than {limit:g}s and was cancelled; raise "
            f"CQRS_WORKER_HANDLER_TIMEOUT (--handler-timeout) or the handler class's "
            f"handler_timeout if it needs longer"
        )


class RetriesExhaustedError(DispatchError):
    """A delivery failed on every attempt the retry policy allowed, or permanently.

    ``permanent`` says the failure was final (no delayed retry stage either).
    """

    def __init__(self, attempts: int, last: BaseException, *, permanent: bool = False) -> None:
        self.attempts = attempts
        self.last = last
        self.permanent = permanent
        super().__init__(f"gave up after {attempts} attempt(s): {type(last).__name__}: {last}")


class DecodeError(CqrsWorkerError):
    """Bytes that cannot become a typed event. Never retried: dead-letter them."""

    reason = "decode-error"

    def __init__(
        self,
        message: str,
        *,
        event_name: str | None = None,
        event_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.event_name = event_name
        self.event_id = event_id


class MessageTooLargeError(DecodeError):
    reason = "too-large"


class NotJsonError(DecodeError):
    reason = "not-json"


class NotAnEnvelopeError(DecodeError):
    reason = "not-an-envelope"


class UnknownEventError(DecodeError):
    reason = "unknown-event"


class PayloadValidationError(DecodeError):
    reason = "invalid-payload"


class PublishError(CqrsWorkerError):
    """The broker did not confirm a publish (unreachable, refused, timed out).

    Nothing is dropped silently: the caller keeps the messages (the outbox
    keeps its rows pending) and may try again.
    """

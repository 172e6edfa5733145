"""The :class:`CircuitBreaker` protocol and :class:`InMemoryCircuitBreaker`.

A breaker keeps one circuit per name (the fallback bindings use the primary
handler's qualified name). States, the same in every implementation:

* **closed**: calls go through; ``fail_max`` failures in a row open it.
* **open**: calls are refused (the fallback runs instead) until
  ``timeout_duration`` seconds have passed since it opened.
* **half-open**: the first call after that is a trial; the others are still
  refused. The trial's success closes the circuit, its failure opens it again.
  A trial that never reports (its worker died) is given up after another
  ``timeout_duration``, and the next call becomes the trial.

An exception listed in ``exclude`` (a business error: the dependency answered)
counts as a success. Names follow python-cqrs's ``AioBreakerAdapter``
(``fail_max``, ``timeout_duration``, ``exclude``).

Why our own: aiobreaker (what python-cqrs adapts) has had no release since
2021 and keeps its Redis state through a blocking client; pybreaker's async
path needs tornado and its Redis storage blocks too; circuitbreaker keeps state
in the process only; purgatory reads the wall clock directly (no clock to
inject in tests) and updates Redis by read-modify-write, which loses updates
between workers. The state machine is small; :mod:`.redis` runs it atomically
in Redis.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

__all__ = ["BreakerState", "CircuitBreaker", "InMemoryCircuitBreaker"]

BreakerState = Literal["closed", "open", "half_open"]
Clock = Callable[[], float]


class CircuitBreaker(Protocol):
    """Decides whether a call may go to a dependency, from how recent calls went."""

    async def allow(self, name: str, /) -> bool:
        """Whether the call may go ahead (``False``: the circuit is open)."""
        ...

    async def record_success(self, name: str, /) -> None:
        """The allowed call succeeded."""
        ...

    async def record_failure(self, name: str, error: Exception, /) -> None:
        """The allowed call raised ``error``."""
        ...


def check_settings(fail_max: int, timeout_duration: float) -> None:
    """Reject settings no breaker can work with (shared by the implementations)."""
    if fail_max < 1:
        raise ValueError(f"fail_max must be at least 1, got {fail_max}")
    if timeout_duration <= 0:
        raise ValueError(f"timeout_duration must be positive seconds, got {timeout_duration}")


@dataclass(slots=True)
class _Circuit:
    state: BreakerState = "closed"
    failures: int = 0
    since: float = 0.0  # when it opened, or when the half-open trial started


class InMemoryCircuitBreaker:
    """A :class:`CircuitBreaker` whose circuits live in this process."""

    def __init__(
        self,
        *,
        fail_max: int = 5,
        timeout_duration: float = 60.0,
        exclude: Sequence[type[Exception]] = (),
        clock: Clock = time.monotonic,
    ) -> None:
        check_settings(fail_max, timeout_duration)
        self.fail_max = fail_max
        self.timeout_duration = timeout_duration
        self.exclude = tuple(exclude)
        self._clock = clock
        self._circuits: dict[str, _Circuit] = {}

    def state(self, name: str) -> BreakerState:
        """The circuit's state as of now (an open circuit past its timeout reads half-open)."""
        circuit = self._circuits.get(name)
        if circuit is None:
            return "closed"
        if circuit.state == "open" and self._clock() - circuit.since >= self.timeout_duration:
            return "half_open"
        return circuit.state

    async def allow(self, name: str, /) -> bool:
        circuit = self._circuits.get(name)
        if circuit is None or circuit.state == "closed":
            return True
        now = self._clock()
        if now - circuit.since < self.timeout_duration:
            return False  # open, or a trial is running
        circuit.state, circuit.since = "half_open", now
        return True

    async def record_success(self, name: str, /) -> None:
        self._circuits.pop(name, None)

    async def record_failure(self, name: str, error: Exception, /) -> None:
        if isinstance(error, self.exclude):
            await self.record_success(name)
            return
        circuit = self._circuits.setdefault(name, _Circuit())
        circuit.failures += 1
        if circuit.state == "half_open" or circuit.failures >= self.fail_max:
            circuit.state, circuit.since = "open", self._clock()

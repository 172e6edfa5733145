"""What the running relay knows of its dependencies and of itself: :class:`RelayReadiness`.

The relay is ready when the database answered its last claim and the broker
confirmed its last publish (or accepted a reconnect). Each dependency is
either up or down with a one-line reason, which ``/readyz`` shows and the
``cqrs_worker_relay_ready{dependency}`` gauge reports. The relay learns of a
broker outage from a failed publish, and that it is over from a publish that
works: an idle relay stays ready, and one whose failed rows wait for their
retry stays not ready until one goes out (or nothing failed for two retry
periods).

Liveness: the relay beats at every turn of its loop and at the end of every
cycle. A relay that has not beaten for ``liveness_stuck_after`` seconds is
wedged (a statement that never returns, say, on a connection a network
partition left half-open) and ``/livez`` fails, so Kubernetes restarts it.
"""

from __future__ import annotations

import logging
import time
from typing import Final, Literal

__all__ = ["DEPENDENCIES", "Dependency", "RelayReadiness"]

logger = logging.getLogger(__name__)

Dependency = Literal["database", "broker"]
DEPENDENCIES: Final[tuple[Dependency, ...]] = ("database", "broker")


class RelayReadiness:
    """Each dependency's state: ``None`` when up, else why it is not."""

    def __init__(self) -> None:
        self._down: dict[Dependency, str] = {
            "database": "not reached yet",
            "broker": "not started yet",
        }
        self._since: dict[Dependency, float] = {}
        self._stopping = False
        self._beat = time.monotonic()

    def beat(self) -> None:
        """The relay made progress (a loop turn, a finished cycle)."""
        self._beat = time.monotonic()

    def live(self, stuck_after: float) -> str | None:
        """``None`` while the relay beats at least every ``stuck_after`` seconds (0: always)."""
        quiet = time.monotonic() - self._beat
        if stuck_after <= 0 or quiet <= stuck_after:
            return None
        return f"relay stuck: no progress for {quiet:.0f}s (liveness_stuck_after {stuck_after:g}s)"

    def up(self, dependency: Dependency) -> None:
        if self._since.pop(dependency, None) is not None:  # down since it was first reached
            logger.info("relay: %s reachable again", dependency)
        self._down.pop(dependency, None)

    def down(self, dependency: Dependency, reason: str) -> None:
        if dependency not in self._down:
            logger.warning("relay: %s unreachable: %s", dependency, reason)
        self._down[dependency] = reason
        self._since[dependency] = time.monotonic()

    def expire(self, dependency: Dependency, *, after: float) -> None:
        """Up again if nothing marked it down for ``after`` seconds."""
        since = self._since.get(dependency)
        if since is not None and time.monotonic() - since >= after:
            self.up(dependency)

    def stopping(self) -> None:
        self._stopping = True

    @property
    def is_stopping(self) -> bool:
        return self._stopping

    def is_up(self, dependency: Dependency) -> bool:
        return dependency not in self._down

    def problems(self) -> dict[Dependency, str]:
        """The dependencies that are down, with why (empty when ready)."""
        return dict(self._down)

    def check(self) -> str | None:
        """``None`` when ready, else the ``/readyz`` body naming what is down."""
        if self._stopping:
            return "not ready: relay stopping"
        if not self._down:
            return None
        return "not ready: " + "; ".join(
            f"{name} ({self._down[name]})" for name in DEPENDENCIES if name in self._down
        )

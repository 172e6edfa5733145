"""How long a crashed child waits before its restart: :class:`Backoff`."""

from __future__ import annotations

__all__ = ["Backoff"]


class Backoff:
    """Exponential restart delays, capped; reset once a child ran ``stable_after`` seconds.

    A child that crashes again and again waits ``initial``, ``2 x initial``, ...
    up to ``maximum`` seconds between starts; one that ran long enough before
    it crashed had a working configuration and starts again after ``initial``.
    """

    def __init__(
        self, *, initial: float = 0.5, maximum: float = 30.0, stable_after: float = 30.0
    ) -> None:
        if initial <= 0 or maximum < initial or stable_after <= 0:
            raise ValueError("need 0 < initial <= maximum and stable_after > 0")
        self.initial = initial
        self.maximum = maximum
        self.stable_after = stable_after
        self._failures = 0

    @property
    def failures(self) -> int:
        """Crashes in a row, each within ``stable_after`` seconds of its start."""
        return self._failures

    def crashed(self, ran_for: float) -> float:
        """Record a crash after ``ran_for`` seconds; returns the delay before the restart."""
        if ran_for >= self.stable_after:
            self._failures = 0
        self._failures += 1
        return min(self.maximum, self.initial * 2.0 ** (self._failures - 1))

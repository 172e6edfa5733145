"""The handling attempts running now, with their start times: :class:`InFlight`.

One object serves the in-flight and oldest-attempt gauges and the liveness
check that restarts a wedged process (``LIVENESS_STUCK_AFTER``). Starting
and ending an attempt is a dict insert and delete; the oldest one is looked
for only when a probe or a scrape asks.
"""

from __future__ import annotations

import time
from typing import Any

__all__ = ["InFlight"]


class InFlight:
    """Attempts running now: ``{delivery: started}`` on the ``time.perf_counter`` clock."""

    __slots__ = ("running",)

    def __init__(self) -> None:
        #: ``{delivery: started}``; the attempt wrapper writes it directly (the hot path).
        self.running: dict[Any, float] = {}

    def start(self, delivery: Any, now: float) -> None:
        self.running[delivery] = now

    def end(self, delivery: Any) -> None:
        self.running.pop(delivery, None)

    def __len__(self) -> int:
        return len(self.running)

    def oldest(self) -> tuple[Any, float] | None:
        """The longest-running attempt's delivery and its age in seconds, or ``None``."""
        if not self.running:
            return None
        delivery, started = min(self.running.items(), key=lambda item: item[1])
        return delivery, time.perf_counter() - started

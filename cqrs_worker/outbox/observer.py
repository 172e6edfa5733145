"""What the relay reports as it works: the :class:`RelayObserver` protocol.

The relay calls an observer after each claim and each publish; metrics
(:mod:`cqrs_worker.observability.relay`) implement it. An observer that
raises is logged and ignored: reporting never fails a batch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

__all__ = ["NoObserver", "RelayObserver", "notify"]

logger = logging.getLogger(__name__)


class RelayObserver(Protocol):
    """Told what every cycle did; called on the relay's event loop, so keep it quick."""

    def claimed(self, rows: int, seconds: float) -> None:
        """A claim locked ``rows`` rows in ``seconds`` (the claim statements only)."""

    def published(self, rows: int, seconds: float) -> None:
        """The broker confirmed ``rows`` rows in ``seconds`` and they were marked published."""

    def publish_failed(self, rows: int, seconds: float | None) -> None:
        """Publishing ``rows`` rows failed, one attempt each: the broker call failed after
        ``seconds``, or (``None``) the rows could not be read and were never sent."""


class NoObserver:
    """Reports nothing (the default)."""

    def claimed(self, rows: int, seconds: float) -> None:
        pass

    def published(self, rows: int, seconds: float) -> None:
        pass

    def publish_failed(self, rows: int, seconds: float | None) -> None:
        pass


def notify(call: Callable[..., None], *args: float | None) -> None:
    """Call an observer method; what it raises is logged, never passed on."""
    try:
        call(*args)
    except Exception:
        logger.warning("the relay observer raised; ignoring it", exc_info=True)

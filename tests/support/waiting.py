"""Wait for a condition under a deadline (never a blind sleep)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

__all__ = ["async_wait_until", "wait_until"]

Message = str | Callable[[], str]


def _text(message: Message) -> str:
    return message() if callable(message) else message


def wait_until(
    condition: Callable[[], bool],
    *,
    timeout: float,
    interval: float = 0.02,
    message: Message = "condition not met",
) -> None:
    """Poll ``condition`` until it is true; raise ``TimeoutError`` after ``timeout`` s.

    ``message`` (or its result, when callable, evaluated only on failure) goes
    into the error, so say what was expected and include diagnostics.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"after {timeout:.1f}s: {_text(message)}")
        time.sleep(min(interval, remaining))


async def async_wait_until(
    condition: Callable[[], bool],
    *,
    timeout: float,
    interval: float = 0.02,
    message: Message = "condition not met",
) -> None:
    """Like :func:`wait_until`, but yields to the event loop between polls."""
    deadline = time.monotonic() + timeout
    while not condition():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"after {timeout:.1f}s: {_text(message)}")
        await asyncio.sleep(min(interval, remaining))

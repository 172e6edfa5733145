"""A time bound that ends a command with a one-line error: :class:`Deadline`."""

from __future__ import annotations

import asyncio
from typing import Any

from cqrs_worker.errors import ConfigurationError

__all__ = ["Deadline"]


class Deadline:
    """``asyncio.timeout`` that ends in a :class:`ConfigurationError` naming what hung."""

    def __init__(self, seconds: float, what: str) -> None:
        self._timeout = asyncio.timeout(seconds)
        self._seconds = seconds
        self._what = what

    async def __aenter__(self) -> None:
        await self._timeout.__aenter__()

    async def __aexit__(self, kind: Any, exc: Any, tb: Any) -> None:
        try:
            await self._timeout.__aexit__(kind, exc, tb)
        except TimeoutError as error:
            raise ConfigurationError(
                f"no answer within {self._seconds:g}s while {self._what}; check that the "
                f"broker is up (raise --timeout if it is only slow)"
            ) from error

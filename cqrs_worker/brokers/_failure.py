"""How a broker error reads inside a :class:`~cqrs_worker.errors.PublishError` message."""

from __future__ import annotations

__all__ = ["describe"]


def describe(exc: BaseException) -> str:
    """``Type: message``, or ``timed out`` for a bare timeout."""
    if isinstance(exc, TimeoutError) and not str(exc):
        return "timed out"
    name, text = type(exc).__name__, str(exc)
    if not text or text == name:
        return name
    # aiokafka's errors already start their text with their class name.
    return text if text.startswith(name) else f"{name}: {text}"

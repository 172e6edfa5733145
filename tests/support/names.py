"""Unique names for broker and database objects, so tests never see each other's data."""

from __future__ import annotations

import re
import uuid

__all__ = ["unique_name"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def unique_name(prefix: str = "t", *, max_length: int = 200) -> str:
    """Return ``<prefix>-<32 hex digits>``.

    Characters outside ``[A-Za-z0-9._-]`` (the set Kafka topic names allow, and
    safe for RabbitMQ queues and SQL identifiers once quoted) become ``-``; the
    prefix is shortened so the whole name fits ``max_length``.
    """
    suffix = uuid.uuid4().hex
    safe = _UNSAFE.sub("-", prefix).strip("-") or "t"
    room = max(1, max_length - len(suffix) - 1)
    return f"{safe[:room]}-{suffix}"

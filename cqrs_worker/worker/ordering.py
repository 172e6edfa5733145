"""Which lane a received message runs in: :class:`LaneChooser` (``ORDERING``, ``ORDERING_KEY``).

The lane is the unit of order (:mod:`cqrs_worker.worker.lanes`): messages of
one lane are handled one after another, lanes run concurrently up to
``CONCURRENCY``. Three modes:

* ``key`` (the default) -- one lane per message key within its partition
  (Kafka) or queue (RabbitMQ, the ``partition_key`` header); a message
  without a key runs in the partition's (queue's) own lane, so keyless
  messages keep partition order and run one at a time.
* ``partition`` -- one lane per partition (queue): everything in it is serial.
* ``unordered`` -- every message its own lane: up to ``CONCURRENCY`` at once,
  whatever their keys. Kafka still commits only up to the lowest unfinished
  offset (:mod:`cqrs_worker.worker.offsets`), so nothing is skipped.

``ORDERING_KEY`` (``key`` mode only) names where a message without a key finds
one: ``partition_key`` (the envelope's field, which python-cqrs sets but
does not always send as the Kafka key) or ``payload.<field>``. Finding it
costs a JSON parse of the body before the lane is chosen; a body that is
not an envelope, or has no such value, runs in the partition lane and the
pipeline dead-letters it (or handles it) as usual.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable
from typing import Any, Literal

import orjson

from cqrs_worker.errors import ConfigurationError

__all__ = ["ORDERINGS", "LaneChooser", "Ordering", "parse_ordering_key"]

Ordering = Literal["key", "partition", "unordered"]
ORDERINGS: tuple[Ordering, ...] = ("key", "partition", "unordered")

_ENVELOPE_KEY = "partition_key"
_PAYLOAD = "payload."


def parse_ordering_key(value: str | None) -> tuple[str, ...] | None:
    """The path of ``ORDERING_KEY`` in the envelope: ``("partition_key",)`` or
    ``("payload", "<field>")``; ``None`` when not set. Raises ``ValueError`` otherwise."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value == _ENVELOPE_KEY:
        return (_ENVELOPE_KEY,)
    field = value.removeprefix(_PAYLOAD)
    if value.startswith(_PAYLOAD) and field and "." not in field:
        return ("payload", field)
    raise ValueError("expected 'partition_key' or 'payload.<field>'")


class LaneChooser:
    """The lane of a message from its scope (``(topic, partition)`` or ``(queue,)``), its
    transport key (``None`` when it has none) and, for ``ORDERING_KEY``, its body.

    Keys found in the body are used as UTF-8 bytes, so a keyless record whose
    envelope says ``partition_key: "a"`` shares its lane with a record keyed ``b"a"``.
    """

    __slots__ = ("_count", "_mode", "_path")

    def __init__(self, *, mode: Ordering = "key", key_from: str | None = None) -> None:
        if mode not in ORDERINGS:
            allowed = ", ".join(ORDERINGS)
            raise ConfigurationError(f"ordering must be one of {allowed}, got {mode!r}")
        try:
            self._path = parse_ordering_key(key_from)
        except ValueError as exc:
            raise ConfigurationError(f"ordering key {key_from!r}: {exc}") from None
        self._mode = mode
        self._count = itertools.count()

    @property
    def mode(self) -> Ordering:
        return self._mode

    @property
    def by_record_key(self) -> bool:
        """Whether a lane is ``scope`` plus the record's own key, nothing more (the
        default): the caller may then build it inline, once per record."""
        return self._mode == "key" and self._path is None

    def __call__(self, scope: tuple[Any, ...], key: Any, body: bytes) -> Hashable:
        mode = self._mode
        if mode == "key":
            if key is None and self._path is not None:
                key = _peek(body, self._path)
            elif isinstance(key, str):  # a RabbitMQ header: the same lane as its bytes
                key = key.encode()
            return scope if key is None else (*scope, key)
        if mode == "partition":
            return scope
        # unordered: a lane no other message shares (the count, not the offset:
        # a RabbitMQ delivery has none, and a redelivered offset must not
        # queue behind its earlier copy).
        return (*scope, None, next(self._count))


def _peek(body: bytes, path: tuple[str, ...]) -> bytes | None:
    """The ordering key at ``path`` in the JSON ``body``, or ``None``."""
    try:
        value: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    for part in path:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, int | float):
        return str(value).encode()
    return None

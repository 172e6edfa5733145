"""What marks a replayed copy: ``x-dlq-replayed-at`` and ``x-dlq-replay-count``.

A replayed copy is the dead letter's body (so its event id) and key, with
the headers of the message as it was first published. The dead-lettering
headers (``x-dlq-reason``, the exception, the origin, ...) are dropped: they
described the failure, not this copy. Two are added:

* ``x-dlq-replayed-at`` — when it was replayed (ISO 8601, UTC);
* ``x-dlq-replay-count`` — how many times this message was replayed (a copy
  that fails again is dead-lettered with the count, and the next replay adds one).

The unit of work reads ``x-dlq-replayed-at`` (:func:`is_replay`): a replayed
event whose inbox record is ``dead-lettered`` is handled, and the record
becomes ``handled``; one already ``handled`` is a duplicate.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from cqrs_worker.observability._raw_messages import describe
from cqrs_worker.worker.dead_letter import PREFIX
from cqrs_worker.worker.delivery import Delivery

__all__ = ["REPLAYED_AT", "REPLAY_COUNT", "is_replay", "replay_count", "replay_headers"]

REPLAYED_AT = f"{PREFIX}replayed-at"
REPLAY_COUNT = f"{PREFIX}replay-count"


def is_replay(delivery: Delivery) -> bool:
    """Whether ``delivery`` is a copy replayed from a dead-letter queue.

    Reads the transport's headers, so call it on the rare path only (the
    inbox does, for events it has a record of already).
    """
    return REPLAYED_AT in describe(delivery.raw)[0]


def replay_count(headers: Mapping[str, Any]) -> int:
    """The ``x-dlq-replay-count`` of ``headers`` (0 if absent or not a number)."""
    value = headers.get(REPLAY_COUNT)
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("utf-8", "replace")
    try:
        return max(int(str(value)), 0) if value is not None else 0
    except ValueError:
        return 0


def replay_headers(
    headers: Mapping[str, Any], *, now: datetime.datetime | None = None
) -> dict[str, Any]:
    """The headers of the replayed copy of a dead letter carrying ``headers``.

    Values other than ours pass through unchanged (bytes stay bytes).
    """
    now = now or datetime.datetime.now(datetime.UTC)
    kept = {name: value for name, value in headers.items() if not name.startswith(PREFIX)}
    kept[REPLAYED_AT] = now.isoformat()
    kept[REPLAY_COUNT] = str(replay_count(headers) + 1)
    return kept

"""One claimed :class:`Batch`: its messages, the publish, and what became of each row."""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import orjson

from cqrs_worker.brokers._failure import describe
from cqrs_worker.brokers.message import OutgoingMessage
from cqrs_worker.brokers.protocol import MessageBroker
from cqrs_worker.errors import PublishError
from cqrs_worker.outbox.claim import ClaimedRow

__all__ = ["Batch"]


class Batch:
    """Publishes claimed rows with one broker call.

    A row whose stored bytes cannot be read (corrupt compression or headers)
    fails on its own, and later rows of its key stay pending behind it, so one
    bad row neither sinks the batch nor lets its key be overtaken.
    """

    def __init__(self, rows: Sequence[ClaimedRow]) -> None:
        self.rows = rows
        self.sendable: list[ClaimedRow] = []
        self.published: list[ClaimedRow] = []
        self.error: str | None = None
        self._messages: list[OutgoingMessage] = []
        self.unreadable: list[tuple[ClaimedRow, str]] = []

    def prepare(self) -> None:
        """Build the messages; decide which rows go out (:attr:`sendable`)."""
        held_keys: set[str] = set()
        for row in self.rows:
            if row.partition_key in held_keys:
                continue
            try:
                self._messages.append(row.message())
            except (zlib.error, orjson.JSONDecodeError, ValueError, TypeError) as exc:
                self.unreadable.append((row, f"unreadable outbox row: {exc!r}"))
                if row.partition_key is not None:
                    held_keys.add(row.partition_key)
                continue
            self.sendable.append(row)

    async def publish(self, broker: MessageBroker) -> None:
        """Publish the sendable rows with one broker call."""
        if not self._messages:
            return
        try:
            await broker.publish(self._messages)
        except PublishError as exc:
            self.error = str(exc) or type(exc).__name__
            return
        except Exception as exc:  # a broker outside the contract: still a failed publish
            self.error = describe(exc)
            return
        self.published = self.sendable

    def failures(self) -> list[tuple[list[ClaimedRow], str]]:
        """Rows to count a failed attempt for, grouped by their error text."""
        groups = [([row], error) for row, error in self.unreadable]
        if self.error is not None:
            groups.append((self.sendable, self.error))
        return groups

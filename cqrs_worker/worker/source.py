"""The :class:`Source` protocol: one transport's consuming side (Kafka, RabbitMQ, memory).

A source owns its connection and its acknowledgement state. It feeds each
message it receives to the :class:`~cqrs_worker.worker.lanes.Lanes` scheduler
and acknowledges (commits) a message only after the pipeline returned for it
and, on Kafka, for every earlier message of its partition (see
:mod:`cqrs_worker.worker.pipeline` for the whole contract).
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["Source"]


class Source(Protocol):
    """What the worker runtime drives, once per transport."""

    @property
    def name(self) -> str:
        """A short label for logs and metrics, e.g. ``kafka`` or ``rabbitmq``."""
        ...

    def ready(self) -> bool:
        """Connected and, on Kafka, assigned partitions: what readiness reports."""
        ...

    async def start(self) -> None:
        """Connect and subscribe.

        Raises :class:`~cqrs_worker.errors.ConfigurationError` with what to fix
        when the broker is unreachable or the subscription is impossible.
        """
        ...

    async def run(self) -> None:
        """Receive and dispatch messages until :meth:`stop` is called."""
        ...

    async def stop(self, timeout: float) -> None:
        """Stop receiving, let in-flight work finish within ``timeout`` seconds,
        acknowledge what finished, cancel the rest (never acknowledged), close."""
        ...

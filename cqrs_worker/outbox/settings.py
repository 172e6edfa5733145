"""The relay's settings: :class:`RelaySettings`, read once, from code or ``CQRS_WORKER_RELAY_*``.

Precedence, highest first: ``cqrs-worker relay`` flags, values passed in code,
environment variables (``CQRS_WORKER_RELAY_BATCH_SIZE=2000``), the defaults.
"""

from __future__ import annotations

import datetime
import random

import pydantic
from pydantic_settings import BaseSettings, SettingsConfigDict

from cqrs_worker._durations import Retention

__all__ = ["RelaySettings"]


class RelaySettings(BaseSettings):
    """How the relay claims, publishes, retries, idles and cleans up.

    Retries: a row whose publish failed waits ``retry_delay`` seconds, doubling
    per attempt up to ``max_retry_delay`` (with jitter), and becomes ``failed``
    after ``max_attempts`` attempts. While it waits, later rows with its
    partition key wait too. A ``failed`` row keeps blocking its key while
    ``block_key_on_failure`` is true (order first: requeue or delete it to go
    on); when false, later rows of the key are published without it.
    """

    model_config = SettingsConfigDict(env_prefix="CQRS_WORKER_RELAY_", frozen=True, extra="forbid")

    batch_size: int = pydantic.Field(default=2000, ge=1, le=10_000)
    """Rows claimed, published and marked together."""
    concurrency: int = pydantic.Field(default=3, ge=1, le=16)
    """Batches in flight at once in this process (SQLite always uses 1)."""
    max_attempts: int = pydantic.Field(default=20, ge=1)
    retry_delay: float = pydantic.Field(default=1.0, gt=0)
    max_retry_delay: float = pydantic.Field(default=60.0, gt=0)
    block_key_on_failure: bool = True
    idle_delay: float = pydantic.Field(default=0.05, gt=0)
    """First pause when nothing is due; doubles up to ``max_idle_delay``."""
    max_idle_delay: float = pydantic.Field(default=1.0, gt=0)
    listen: bool = True
    """On PostgreSQL, wake up on the table's NOTIFY instead of waiting out the pause."""
    retention: Retention = datetime.timedelta(days=7)
    """Published rows older than this (seconds, or a timedelta) are deleted; ``None`` keeps them."""
    retention_interval: float = pydantic.Field(default=60.0, gt=0)
    health_port: int = pydantic.Field(default=8081, ge=0, le=65535)
    """Where ``cqrs-worker relay`` serves ``/livez``, ``/readyz``, ``/metrics``; 0 turns it off."""
    health_host: str = "0.0.0.0"
    metrics_interval: float = pydantic.Field(default=10.0, gt=0)
    """Seconds between reads of the pending and failed counts for ``/metrics``."""
    liveness_stuck_after: float = pydantic.Field(default=300.0, ge=0)
    """``/livez`` fails when the relay made no progress for this long (0 turns it off)."""

    @pydantic.model_validator(mode="after")
    def _ordered_delays(self) -> RelaySettings:
        if self.max_retry_delay < self.retry_delay:
            raise ValueError("max_retry_delay must be at least retry_delay")
        if self.max_idle_delay < self.idle_delay:
            raise ValueError("max_idle_delay must be at least idle_delay")
        return self

    def retry_after(self, attempts: int) -> float:
        """Seconds before attempt ``attempts + 1``: exponential, capped, jittered by up to -50%."""
        ceiling = min(self.max_retry_delay, self.retry_delay * 2.0 ** max(attempts - 1, 0))
        return ceiling * (0.5 + random.random() / 2)  # jitter, not security

"""The unit of work's settings: :class:`UnitOfWorkSettings`, from code or the environment.

Values passed in code win over ``CQRS_WORKER_UNIT_OF_WORK_*`` variables
(``CQRS_WORKER_UNIT_OF_WORK_BATCH_SIZE=500``), which win over the defaults.
"""

from __future__ import annotations

import datetime

import pydantic
from pydantic_settings import BaseSettings, SettingsConfigDict

from cqrs_worker._durations import Retention

__all__ = ["UnitOfWorkSettings"]


class UnitOfWorkSettings(BaseSettings):
    """Per event or per batch, and how long inbox records are kept.

    ``batch_size`` 1 (the default) gives every delivery attempt a transaction
    of its own. Above 1, first attempts that arrive together share one
    transaction (up to ``batch_size`` of them, at most ``batch_concurrency``
    transactions at once) and run one after another inside it: much more
    throughput when handlers mostly write to this database, more latency per
    delivery, and a handler that waits on another service holds up its batch.
    """

    model_config = SettingsConfigDict(
        env_prefix="CQRS_WORKER_UNIT_OF_WORK_", frozen=True, extra="forbid"
    )

    batch_size: int = pydantic.Field(default=1, ge=1, le=10_000)
    """Deliveries per transaction; 1: a unit of work per event."""
    batch_concurrency: int = pydantic.Field(default=4, ge=1, le=256)
    """Batch transactions at once (with ``batch_size`` > 1)."""
    retention: Retention = datetime.timedelta(days=7)
    """Inbox records older than this (seconds, or a timedelta) are deleted; ``None`` keeps them.

    Keep records longer than the broker can redeliver a message (its
    retention plus the worst consumer lag): a redelivery after its record was
    purged is handled again."""
    purge_interval: float = pydantic.Field(default=60.0, gt=0)
    """Seconds between purges (each a background task, in transactions of its own)."""

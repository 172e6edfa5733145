"""How often the worker looks for expired saga deadlines: :class:`SagaSettings`.

Values passed in code win over ``CQRS_WORKER_SAGAS_*`` variables
(``CQRS_WORKER_SAGAS_CHECK_INTERVAL=5``), which win over the defaults.
"""

from __future__ import annotations

import pydantic
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["SagaSettings"]


class SagaSettings(BaseSettings):
    """The deadline check: a timed-out step is noticed within about ``check_interval``."""

    model_config = SettingsConfigDict(env_prefix="CQRS_WORKER_SAGAS_", frozen=True, extra="forbid")

    check_interval: float = pydantic.Field(default=1.0, gt=0, le=3600)
    """Seconds between two looks at the saga table for expired deadlines."""
    check_batch: int = pydantic.Field(default=100, ge=1, le=10_000)
    """Sagas moved per look at most (each in a transaction of its own)."""
    counts_interval: float = pydantic.Field(default=10.0, gt=0)
    """Seconds between two counts of sagas by status (the ``cqrs_worker_sagas`` gauge);
    a count reads the whole saga table."""

"""Where the ``outbox`` admin commands find the table: :class:`OutboxAdminSettings`."""

from __future__ import annotations

from typing import Annotated, Any

import pydantic
import sqlalchemy as sa
from pydantic_settings import SettingsConfigDict
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from cqrs_worker.errors import ConfigurationError
from cqrs_worker.outbox.repository import OutboxRepository
from cqrs_worker.outbox.table import DEFAULT_TABLE_NAME, outbox_table
from cqrs_worker.security.secret_files import SECRET, SecretSettings

__all__ = ["OutboxAdminSettings"]


class OutboxAdminSettings(SecretSettings):
    """The database and table of ``cqrs-worker outbox``; flags win over ``CQRS_WORKER_OUTBOX_*``."""

    model_config = SettingsConfigDict(env_prefix="CQRS_WORKER_OUTBOX_", frozen=True, extra="forbid")

    dsn: Annotated[str | None, SECRET] = None
    """SQLAlchemy URL with an async driver, e.g. ``postgresql+asyncpg://user:pw@db/app``."""
    table: str = DEFAULT_TABLE_NAME
    """The outbox table's name."""

    @pydantic.field_validator("dsn")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @classmethod
    def load(cls, **given: Any) -> OutboxAdminSettings:
        """Flags given (``None``: not given) over the environment."""
        return cls(**{name: value for name, value in given.items() if value is not None})

    def engine(self) -> AsyncEngine:
        """An engine on :attr:`dsn` (also read from the file ``CQRS_WORKER_OUTBOX_DSN_FILE`` names).

        One line saying what is wrong if there is no usable URL.
        """
        dsn = self.dsn
        if dsn is None:
            raise ConfigurationError(
                "no database given: pass --dsn or set CQRS_WORKER_OUTBOX_DSN "
                "(e.g. postgresql+asyncpg://<user>:<password>@db:5432/app), or name the relay's "
                "EventProducer as MODULE:ATTR"
            )
        try:
            return create_async_engine(dsn)
        except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, sa.exc.InvalidRequestError) as exc:
            reason = str(exc).splitlines()[0]
        except ImportError as exc:
            reason = f"its driver is not installed ({exc})"
        raise ConfigurationError(
            f"--dsn / CQRS_WORKER_OUTBOX_DSN is not a usable database URL: {reason}; it reads "
            f"dialect+async-driver://<user>:<password>@<host>:<port>/<database>, e.g. "
            f"postgresql+asyncpg://app@db:5432/app"
        )

    def repository(self) -> OutboxRepository:
        """The repository of :attr:`table` (``ConfigurationError`` for a bad name)."""
        return OutboxRepository(outbox_table(sa.MetaData(), name=self.table))

"""A :class:`~cqrs_worker.sagas.Sagas` on SQLite for the ``cqrs-worker sagas`` tests.

``tests.unit.cli.sagas_app:build`` (``--factory``) returns the one built for
``SAGAS_CLI_DB`` in this process, so the tests and the CLI share its journal.
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from cqrs_worker import DefaultContainer, RequestMap, bootstrap
from cqrs_worker.inbox import UnitOfWork
from cqrs_worker.outbox import OutboxRepository, outbox_table
from cqrs_worker.sagas import Sagas, SagaStore, saga_table
from tests.integration.sagas.journal import Journal, bind, journal_saga, journal_table

metadata = sa.MetaData()
sagas_table = saga_table(metadata)
journal = Journal(journal_table(metadata, "cli"))
outbox = OutboxRepository(outbox_table(metadata))
_built: dict[str, Sagas] = {}


def build() -> Sagas:
    url = f"sqlite+aiosqlite:///{os.environ['SAGAS_CLI_DB']}"
    if url not in _built:
        container = DefaultContainer()
        container.register_instance(Journal, journal)
        unit_of_work = UnitOfWork(
            async_sessionmaker(create_async_engine(url), expire_on_commit=False),
            container=container,
            outbox=outbox,
        )
        requests = RequestMap()
        bind(requests)
        bootstrap(requests=requests, container=container, emitter=unit_of_work.emitter)
        _built[url] = Sagas([journal_saga], unit_of_work=unit_of_work, store=SagaStore(sagas_table))
    return _built[url]

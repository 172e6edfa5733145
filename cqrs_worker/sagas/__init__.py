"""Sagas: orchestrated steps with compensation, state in the database, driven by the worker.

* :class:`SagaDefinition` lists the steps (:class:`LocalStep`,
  :class:`RemoteStep`, :class:`Fallback`) over a pydantic context model.
* :func:`saga_table` defines the state table; :class:`SagaStore` reads and
  writes it in the caller's transaction.
* :class:`Sagas` starts sagas, moves them on replies (:class:`SagaReply`
  payloads) and checks deadlines (``Worker(background=[sagas.watch])``).
* :func:`mermaid` draws a definition.

Guide: the "Sagas" section of README.md.
"""

from cqrs_worker.sagas.definition import (
    Fallback,
    LocalStep,
    RemoteStep,
    SagaDefinition,
    SagaMessage,
    SagaReply,
    SagaStatus,
    StepCall,
)
from cqrs_worker.sagas.diagram import mermaid
from cqrs_worker.sagas.runtime import Sagas
from cqrs_worker.sagas.settings import SagaSettings
from cqrs_worker.sagas.store import SagaRecord, SagaStore
from cqrs_worker.sagas.table import DEFAULT_SAGA_TABLE_NAME, saga_ddl, saga_table

__all__ = [
    "DEFAULT_SAGA_TABLE_NAME",
    "Fallback",
    "LocalStep",
    "RemoteStep",
    "SagaDefinition",
    "SagaMessage",
    "SagaRecord",
    "SagaReply",
    "SagaSettings",
    "SagaStatus",
    "SagaStore",
    "Sagas",
    "StepCall",
    "mermaid",
    "saga_ddl",
    "saga_table",
]

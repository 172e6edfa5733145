"""The :class:`Sagas` of one service: start them, feed them replies, watch their deadlines.

::

    sagas = Sagas([order_saga], unit_of_work=unit_of_work, store=SagaStore(saga_table(metadata)))
    sagas.bind(events)                      # the reply events of every definition
    mediators = bootstrap(events=events, requests=requests, container=container,
                          emitter=unit_of_work.emitter)
    worker = Worker(mediators.events, middlewares=[unit_of_work],
                    background=[sagas.watch], collectors=[sagas.collector()])

A handler starts a saga in its delivery's transaction
(``await sagas.start("order", OrderContext(...))``); outside the worker, open
one with ``async with unit_of_work.transaction(): ...``. Requests and
compensations go through the unit of work's outbox emitter; local commands
through the :class:`~cqrs_worker.RequestMediator` the container resolves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pydantic
from sqlalchemy.ext.asyncio import AsyncSession

from cqrs_worker.errors import ConfigurationError
from cqrs_worker.events import WireEvent
from cqrs_worker.inbox.unit_of_work import UnitOfWork
from cqrs_worker.maps import EventMap
from cqrs_worker.observability.saga_stats import SagaStats
from cqrs_worker.request_mediator import RequestMediator
from cqrs_worker.sagas.deadlines import check_deadlines
from cqrs_worker.sagas.definition import (
    RemoteStep,
    SagaDefinition,
    SagaReply,
    SagaStatus,
    action_of,
)
from cqrs_worker.sagas.engine import SagaEngine
from cqrs_worker.sagas.settings import SagaSettings
from cqrs_worker.sagas.store import SagaRecord, SagaStore

if TYPE_CHECKING:
    from prometheus_client.registry import Collector

__all__ = ["Sagas"]

logger = logging.getLogger(__name__)


class Sagas:
    """The saga definitions of a service, run on its unit of work and saga table."""

    def __init__(
        self,
        definitions: Sequence[SagaDefinition[Any]],
        *,
        unit_of_work: UnitOfWork,
        store: SagaStore | None = None,
        settings: SagaSettings | None = None,
    ) -> None:
        self.definitions: dict[str, SagaDefinition[Any]] = {}
        for definition in definitions:
            if definition.name in self.definitions:
                raise ConfigurationError(f"two saga definitions are named {definition.name!r}")
            self.definitions[definition.name] = definition
        self.unit_of_work = unit_of_work
        self.store = store if store is not None else SagaStore()
        self.settings = settings if settings is not None else SagaSettings()
        self.stats = SagaStats()
        self._counts_due = 0.0

    # -- wiring -----------------------------------------------------------

    def bind(self, events: EventMap) -> None:
        """Bind every reply event class of the definitions to :meth:`on_reply`."""
        sagas = self

        class SagaReplyHandler:
            async def handle(self, event: WireEvent[Any]) -> None:
                await sagas.on_reply(event)

        for reply in dict.fromkeys(r for d in self.definitions.values() for r in d.reply_types()):
            events.bind(reply, SagaReplyHandler)

    def collector(self) -> Collector:
        """The saga metric families, for ``Worker(collectors=[sagas.collector()])``."""
        from cqrs_worker.observability.saga_collector import SagaCollector

        return SagaCollector(self.stats)

    # -- moving sagas -----------------------------------------------------

    async def start(
        self,
        definition: str | SagaDefinition[Any],
        context: pydantic.BaseModel,
        *,
        saga_id: uuid.UUID | None = None,
    ) -> uuid.UUID:
        """Start a saga in the current unit of work; runs its steps up to the first wait.

        With a ``saga_id`` that exists already, nothing happens (derive it from
        the business key, e.g. ``uuid5`` of the order id, to start one saga per
        order however often the order is placed).
        """
        definition = self.definition(definition if isinstance(definition, str) else definition.name)
        if not isinstance(context, definition.context):
            raise ConfigurationError(
                f"saga {definition.name!r} takes a {definition.context.__qualname__} context, "
                f"not {type(context).__qualname__}"
            )
        session = self._session()
        if saga_id is not None and await self.store.load(session, saga_id, lock=False):
            # Started before (the same order placed twice, under another event id).
            logger.info("saga %s %s exists; not started again", definition.name, saga_id)
            return saga_id
        record = SagaRecord(
            saga_id=saga_id or uuid.uuid4(),
            name=definition.name,
            status=SagaStatus.RUNNING,
            step=0,
            variant=0,
            context=context.model_dump(mode="json"),
        )
        await self.store.insert(session, record)
        await (await self.engine(session)).forward(definition, record)
        await self.store.save(session, record)
        return record.saga_id

    async def on_reply(self, event: WireEvent[Any]) -> None:
        """A reply event arrived (in a delivery): move the saga it names, if it waits for it."""
        reply = event.payload
        if not isinstance(reply, SagaReply):
            raise ConfigurationError(
                f"{type(event).__qualname__} is a saga reply: its payload must be a SagaReply"
            )
        session = self._session()
        record = await self.store.load(session, reply.saga_id)
        if record is None:
            logger.warning(
                "reply %s names saga %s, which is not here", event.event_name, reply.saga_id
            )
            return
        definition = self.definition(record.name)
        if not self._waits_for(definition, record, reply.step, type(event)):
            # Late (after a timeout) or stray: the saga has moved on; nothing changes.
            logger.info(
                "saga %s %s (%s, step %d) ignores %s for step %s",
                record.name,
                record.saga_id,
                record.status,
                record.step,
                event.event_name,
                reply.step,
            )
            return
        engine = await self.engine(session)
        if reply.ok:
            engine.step_done(definition, record, reply.result)
            await engine.forward(definition, record)
        else:
            await engine.step_failed(
                definition, record, reply.error or f"{event.event_name}: not ok"
            )
            if record.status is SagaStatus.RUNNING:  # its fallback
                await engine.forward(definition, record)
        await self.store.save(session, record)

    async def check_deadlines(self) -> int:
        """Move sagas whose deadline passed now; how many (:mod:`cqrs_worker.sagas.deadlines`)."""
        moved = await check_deadlines(self)
        now = asyncio.get_running_loop().time()
        if now >= self._counts_due:
            self._counts_due = now + self.settings.counts_interval
            await self.refresh_counts()
        return moved

    async def retry(self, saga_id: uuid.UUID) -> SagaRecord:
        """Compensate a ``failed`` saga again, now (attempts start from zero)."""
        async with self.unit_of_work.transaction() as session:
            record = await self.store.load(session, saga_id)
            if record is None:
                raise ConfigurationError(f"no saga {saga_id} in table {self.store.table.name}")
            if record.status is not SagaStatus.FAILED:
                raise ConfigurationError(
                    f"saga {saga_id} is {record.status}; only failed sagas can be retried"
                )
            record.attempts = 0
            await (await self.engine(session)).compensate(self.definition(record.name), record)
            await self.store.save(session, record)
        return record

    async def watch(self, stop: asyncio.Event) -> None:
        """Check deadlines every ``check_interval`` until ``stop`` is set (a background task).

        A failed check (the database is down) is logged and tried again next time.
        """
        interval = self.settings.check_interval
        while not stop.is_set():
            try:
                await self.check_deadlines()
            except Exception:
                logger.exception("saga deadline check failed; trying again in %.1fs", interval)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)

    async def refresh_counts(self) -> None:
        """Read sagas by status from the table into :attr:`stats` (the metrics)."""
        async with self.unit_of_work.session_factory() as session:
            self.stats.by_status = await self.store.counts(session)

    # -- helpers ----------------------------------------------------------

    def _waits_for(
        self, definition: SagaDefinition[Any], record: SagaRecord, step: str, reply: type[Any]
    ) -> bool:
        if record.status is not SagaStatus.RUNNING or record.step >= len(definition.steps):
            return False
        current = definition.steps[record.step]
        action = action_of(current, record.variant)
        return action.name == step and isinstance(action, RemoteStep) and reply in action.replies

    async def engine(self, session: AsyncSession) -> SagaEngine:
        """An engine moving sagas in ``session``'s transaction."""
        mediator = await self.unit_of_work.container.resolve(RequestMediator)
        return SagaEngine(
            session=session,
            send=mediator.send,
            emit=self.unit_of_work.emitter.emit,
            stats=self.stats,
        )

    def _session(self) -> AsyncSession:
        session = self.unit_of_work.session()
        if session is None:
            raise ConfigurationError(
                "sagas move inside a unit of work: from a worker's handler, or in "
                "`async with unit_of_work.transaction():`"
            )
        return session

    def definition(self, name: str) -> SagaDefinition[Any]:
        """The definition named ``name``; ``ConfigurationError`` if there is none."""
        definition = self.definitions.get(name)
        if definition is None:
            raise ConfigurationError(
                f"no saga definition named {name!r} here "
                f"(known: {', '.join(sorted(self.definitions))})"
            )
        return definition

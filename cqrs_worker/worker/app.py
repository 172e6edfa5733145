"""The :class:`Worker`: an EventMediator consuming Kafka and/or RabbitMQ, until told to stop.

``await worker.run()`` builds the codec from the EventMap, one pipeline and
source per transport, and the health server; starts the sources; runs until
:meth:`Worker.request_stop` (or SIGTERM/SIGINT with ``handle_signals=True``);
then stops every source within ``shutdown_timeout`` (stop taking messages,
let in-flight work finish, commit/ack what finished, cancel the rest
unacknowledged, close). The delivery contract is in
:mod:`cqrs_worker.worker.pipeline`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, Literal

from cqrs_worker.envelope import EnvelopeCodec, EventRegistry
from cqrs_worker.event_mediator import EventMediator
from cqrs_worker.middleware import Middleware
from cqrs_worker.observability.worker_collector import exposition, worker_registry
from cqrs_worker.worker.context import SourceContext, SourceFactory
from cqrs_worker.worker.health import serve_health
from cqrs_worker.worker.settings import WorkerSettings, load_settings
from cqrs_worker.worker.signals import stop_signals
from cqrs_worker.worker.source import Source
from cqrs_worker.worker.stats import WorkerStats
from cqrs_worker.worker.topics import subscribed_topics
from cqrs_worker.worker.transports import configured_transports, start_source, stop_sources

if TYPE_CHECKING:
    from prometheus_client.registry import Collector

__all__ = ["BackgroundTask", "Worker"]

#: A loop that runs beside the sources until the event it gets is set (e.g. saga deadlines).
BackgroundTask = Callable[[asyncio.Event], Coroutine[Any, Any, None]]

logger = logging.getLogger(__name__)

State = Literal["created", "starting", "running", "stopping", "stopped", "failed"]
#: A heartbeat older than this means the event loop is starved: not live.
_WEDGED_AFTER = 30.0
_BEAT = 1.0


class Worker:
    """Runs ``mediator``'s handlers for the events of its EventMap, at least once.

    ``settings`` default to :class:`WorkerSettings` read from the
    environment (a bad value raises
    :class:`~cqrs_worker.errors.ConfigurationError`). ``middlewares`` run
    around each attempt, inside the retry loop (a unit of work or an inbox
    goes there). ``background`` loops run while the sources run and get the
    stop event (``sagas.watch``); ``collectors`` add Prometheus families to
    :attr:`registry`. ``sources`` replaces the
    transports the settings name (Kafka, RabbitMQ) with your own factories,
    e.g. an in-memory one in tests. Building a Worker does no I/O; it runs once.
    """

    def __init__(
        self,
        mediator: EventMediator,
        settings: WorkerSettings | None = None,
        *,
        middlewares: Sequence[Middleware] = (),
        sources: Sequence[SourceFactory] | None = None,
        background: Sequence[BackgroundTask] = (),
        collectors: Sequence[Collector] = (),
    ) -> None:
        self.mediator = mediator
        self.settings = settings if settings is not None else load_settings()
        self.middlewares = tuple(middlewares)
        self.background = tuple(background)
        self.collectors = tuple(collectors)
        self.stats = WorkerStats()
        self.registry = worker_registry(self.stats, lambda: self.sources)
        for collector in self.collectors:
            self.registry.register(collector)
        """The Prometheus registry ``/metrics`` serves (the ``cqrs_worker_*`` families)."""
        self.state: State = "created"
        self.sources: list[Source] = []
        self._factories = tuple(sources) if sources is not None else None
        # asyncio events bind to a loop on first use, not here.
        self._stop = asyncio.Event()
        self._started = asyncio.Event()
        self._ran = False
        self._problem: str | None = None
        self._beat = 0.0

    def replace(self, settings: WorkerSettings) -> Worker:
        """A new, unstarted worker like this one with other settings."""
        return Worker(
            self.mediator,
            settings,
            middlewares=self.middlewares,
            sources=self._factories,
            background=self.background,
            collectors=self.collectors,
        )

    @property
    def worker_id(self) -> str:
        """Names this process in dead-letter headers: the setting, the instance id or host-pid."""
        return (
            self.settings.worker_id
            or self.settings.group_instance_id
            or f"{socket.gethostname()}-{os.getpid()}"
        )

    def topics(self) -> tuple[str, ...]:
        """The topics subscribed to; ``ConfigurationError`` names a class without one."""
        return subscribed_topics(self.mediator.event_map, self.settings.topics)

    def request_stop(self) -> None:
        """Ask :meth:`run` to stop gracefully (safe to call at any time, more than once)."""
        self._stop.set()

    # -- health -----------------------------------------------------------

    def liveness(self) -> str | None:
        """``None`` when live; else why not (a crashed source, a starved event loop, a
        handling attempt running longer than ``liveness_stuck_after``)."""
        if self._problem is not None:
            return self._problem
        loop = asyncio.get_running_loop()
        if self._beat and loop.time() - self._beat > _WEDGED_AFTER:
            return f"event loop starved for {loop.time() - self._beat:.0f}s"
        return _stuck(self.stats, self.settings.liveness_stuck_after)

    def readiness(self) -> str | None:
        """``None`` when every source and middleware is ready; else which are not, and why.

        A middleware takes part when it has a ``readiness()`` returning
        ``None`` or a reason, as :class:`~cqrs_worker.inbox.UnitOfWork` does
        while deliveries wait for an unreachable database.
        """
        if self.state != "running":
            return f"worker is {self.state}"
        waiting = [source.name for source in self.sources if not source.ready()]
        waiting += _middlewares_not_ready(self.middlewares)
        return f"not ready: {', '.join(waiting)}" if waiting else None

    def metrics(self) -> str:
        """What ``/metrics`` shows: :attr:`registry` in the Prometheus text format."""
        return exposition(self.registry)[0].decode()

    # -- running ----------------------------------------------------------

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Worker]:
        """Run in a background task while the block runs; stop gracefully on exit.

        Enters once the sources started (raises what start-up raised).
        """
        task = asyncio.create_task(self.run())
        started = asyncio.create_task(self._started.wait())
        await asyncio.wait((task, started), return_when=asyncio.FIRST_COMPLETED)
        started.cancel()
        if task.done():
            task.result()  # raises the start-up failure
            raise RuntimeError("the worker stopped while starting")
        try:
            yield self
        finally:
            self.request_stop()
            await task

    async def run(self, *, handle_signals: bool = False) -> None:
        """Start, run until stopped, stop gracefully. Raises what made a source fail."""
        if self._ran:
            raise RuntimeError(f"a Worker runs once (this one is {self.state}); build another")
        self._ran = True
        self.state = "starting"
        try:
            self.sources = [build(self._context()) for build in self._transports()]
        except BaseException:
            self.state = "failed"
            raise
        async with contextlib.AsyncExitStack() as stack:
            if handle_signals:
                stack.enter_context(stop_signals(self.request_stop))
            if self.settings.health_port:
                server = await serve_health(
                    self.settings,
                    live=self.liveness,
                    ready=self.readiness,
                    metrics=lambda: exposition(self.registry),
                )
                stack.push_async_callback(server.close)
            beat = asyncio.create_task(self._heartbeat())
            stack.callback(beat.cancel)
            stack.push_async_callback(self._start_background())
            await self._serve()

    async def _serve(self) -> None:
        started: list[Source] = []
        runs: dict[asyncio.Task[None], Source] = {}
        failure: BaseException | None = None
        try:
            for source in self.sources:
                await start_source(source, self.settings)
                started.append(source)
            self._log_subscriptions()
            self.state = "running"
            self._started.set()
            runs = {asyncio.create_task(s.run(), name=f"source-{s.name}"): s for s in started}
            stopping = asyncio.create_task(self._stop.wait())
            await asyncio.wait((*runs, stopping), return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            failure = self._check_runs(runs)
        finally:
            failed = self.state == "failed"
            self.state = "stopping"
            await stop_sources(started, runs, self.settings.shutdown_timeout)
            self.state = "failed" if failed else "stopped"
            if started:
                logger.info("worker stopped; stats: %s", _format_stats(self.stats))
        if failure is not None:
            raise failure

    def _check_runs(self, runs: dict[asyncio.Task[None], Source]) -> BaseException | None:
        """The error of a source whose ``run`` ended before a stop was asked for."""
        for task, source in runs.items():
            if not task.done():
                continue
            error = task.exception() or RuntimeError(f"the {source.name} source stopped on its own")
            self._problem = f"the {source.name} source failed: {type(error).__name__}: {error}"
            logger.error("%s; stopping the worker", self._problem, exc_info=error)
            self.state = "failed"
            return error
        return None

    def _start_background(self) -> Callable[[], Awaitable[None]]:
        """Start the background loops; the callable returned stops them (event, then cancel)."""
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(loop(stop), name="worker-background") for loop in self.background
        ]

        async def finish() -> None:
            stop.set()
            if tasks:
                await asyncio.wait(tasks, timeout=self.settings.shutdown_timeout)
            for task in tasks:
                task.cancel()

        return finish

    async def _heartbeat(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._beat = loop.time()
            await asyncio.sleep(_BEAT)

    def _context(self) -> SourceContext:
        registry = EventRegistry.from_event_map(self.mediator.event_map)
        return SourceContext(
            settings=self.settings,
            stats=self.stats,
            worker_id=self.worker_id,
            topics=self.topics(),
            mediator=self.mediator,
            codec=EnvelopeCodec(registry, max_size=self.settings.max_message_bytes),
            middlewares=self.middlewares,
        )

    def _transports(self) -> Sequence[SourceFactory]:
        if self._factories is not None:
            return self._factories
        return configured_transports(self.settings)

    def _log_subscriptions(self) -> None:
        names = sorted(self.mediator.event_map.names().values())
        logger.info(
            "worker %s running: sources %s, topics %s, events %s, concurrency %d",
            self.worker_id,
            ", ".join(s.name for s in self.sources),
            ", ".join(self.topics()),
            ", ".join(names) or "-",
            self.settings.concurrency,
        )


def _middlewares_not_ready(middlewares: Sequence[Middleware]) -> list[str]:
    """``Name (reason)`` of each middleware whose ``readiness()`` gives a reason."""
    reasons = []
    for middleware in middlewares:
        readiness = getattr(middleware, "readiness", None)
        if callable(readiness) and (reason := readiness()) is not None:
            reasons.append(f"{type(middleware).__name__} ({reason})")
    return reasons


def _stuck(stats: WorkerStats, threshold: float | None) -> str | None:
    """Why the process counts as wedged: an attempt running longer than ``threshold`` seconds."""
    if threshold is None:
        return None
    oldest = stats.in_flight.oldest()
    if oldest is None or oldest[1] <= threshold:
        return None
    delivery, age = oldest
    name = delivery.event.event_name if delivery.event is not None else delivery.event_name
    return (
        f"a handling attempt of {name or 'an unnamed event'} has run for {age:.0f}s, over "
        f"CQRS_WORKER_LIVENESS_STUCK_AFTER ({threshold:g}s)"
    )


def _format_stats(stats: WorkerStats) -> str:
    return ", ".join(f"{name}={value}" for name, value in stats.snapshot().items())

"""A TCP proxy that can cut and restore traffic, for broker-outage tests.

:class:`TcpProxy` listens on a free loopback port and forwards every
connection to a target ``host:port``. :meth:`TcpProxy.cut` aborts every live
connection and resets every new one until :meth:`TcpProxy.restore`; the
listening port stays the same throughout, so clients reconnect to the same
address once traffic is restored.

The proxy runs its own event loop in a daemon thread, so it works the same
from sync and async tests, keeps forwarding while a test blocks (for example
in :meth:`~tests.support.processes.ManagedProcess.wait_for_line`), and serves
worker subprocesses as well as clients inside the test process.

Using it with Kafka (Tansu)
---------------------------
A Kafka client connects to the bootstrap address only to fetch Metadata; after
that it connects to the addresses the broker *advertises*. A proxy in front of
a broker that advertises its own port would only see the first connection. So
the broker must advertise the proxy's port::

    with tansu_behind_proxy() as kafka:      # or the ``kafka_via_proxy`` fixture
        producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap)  # the proxy
        ...
        kafka.proxy.cut()       # every client connection drops; reconnects are reset
        kafka.proxy.restore()   # clients reconnect through the same address

:func:`tansu_behind_proxy` starts the proxy first (targeting a free port),
then Tansu listening on that port with ``--advertised-listener-url`` set to the
proxy's address. A real Apache Kafka given by ``CQRS_WORKER_TEST_KAFKA`` cannot
be put behind the proxy (its advertised listeners are its own), so outage tests
always use their own Tansu.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from tests.support.kafka import TansuBroker, TansuStartError
from tests.support.net import LOOPBACK, free_port

__all__ = ["ProxiedTansu", "TcpProxy", "tansu_behind_proxy"]

_CHUNK = 64 * 1024
_CALL_TIMEOUT = 10.0


@dataclass(eq=False)
class _Link:
    """One client connection and its upstream connection."""

    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def abort(self) -> None:
        """Drop both sides now (what an outage looks like to the client)."""
        self.client.transport.abort()
        if self.upstream is not None:
            self.upstream.transport.abort()

    def close(self) -> None:
        """Close both sides after flushing what is already buffered."""
        self.client.close()
        if self.upstream is not None:
            self.upstream.close()


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()


class TcpProxy:
    """Forward ``listen_host:<free port>`` to ``target_host:target_port``.

    ``start()``/``stop()`` (or a ``with`` block) run it; every public method is
    synchronous and thread-safe and returns once the proxy has done it.

    With ``ssl`` (a server context) the proxy terminates TLS: clients speak
    TLS to it, the target gets plaintext. A client whose handshake fails
    (untrusted CA, no client certificate when one is required) is never
    forwarded; :attr:`failed_handshakes` counts them.
    """

    def __init__(
        self,
        target_host: str,
        target_port: int,
        *,
        listen_host: str = LOOPBACK,
        ssl: ssl.SSLContext | None = None,
    ) -> None:
        self.listen_host = listen_host
        self._ssl = ssl
        self._failed_handshakes = 0
        self._target = (target_host, target_port)
        self._cut = False
        self._links: set[_Link] = set()
        self._handlers: set[asyncio.Task[Any]] = set()
        self._accepted = 0
        self._reset = 0
        self._port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None
        self._started: Future[None] = Future()

    # -- addresses and counters ----------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the proxy is not started")
        return self._port

    @property
    def address(self) -> str:
        """``"127.0.0.1:PORT"`` where clients connect."""
        return f"{self.listen_host}:{self.port}"

    @property
    def target(self) -> tuple[str, int]:
        return self._target

    def set_target(self, host: str, port: int) -> None:
        """Forward *new* connections to ``host:port`` (live ones keep their target)."""
        self._target = (host, port)

    @property
    def is_cut(self) -> bool:
        return self._cut

    @property
    def active_connections(self) -> int:
        """Connections being forwarded right now."""
        return len(self._links)

    @property
    def total_connections(self) -> int:
        """Connections forwarded since start (those reset during a cut not counted)."""
        return self._accepted

    @property
    def failed_handshakes(self) -> int:
        """TLS handshakes that failed (only with ``ssl``)."""
        return self._failed_handshakes

    @property
    def refused_connections(self) -> int:
        """Connections reset because the proxy was cut (or the target was down)."""
        return self._reset

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> Self:
        if self._thread is not None:
            raise RuntimeError("the proxy was already started")
        self._thread = threading.Thread(target=self._run, name="tcp-proxy", daemon=True)
        self._thread.start()
        self._started.result(timeout=_CALL_TIMEOUT)
        return self

    def stop(self) -> None:
        """Close every connection and the listener, and end the thread; idempotent."""
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None:
            return
        if loop is not None and stopping is not None and thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop may have just closed
                loop.call_soon_threadsafe(stopping.set)
        thread.join(_CALL_TIMEOUT)
        if thread.is_alive():
            raise RuntimeError(f"proxy thread {thread.name} did not stop")
        self._thread = None

    def cut(self) -> None:
        """Abort every live connection and reset new ones until :meth:`restore`."""
        self._call(self._do_cut())

    def restore(self) -> None:
        """Forward new connections again (aborted ones stay closed: clients reconnect)."""
        self._cut = False

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = f"{self.address}" if self._port is not None else "(not started)"
        state = "cut" if self._cut else "forwarding"
        return f"<TcpProxy {where} -> {self._target[0]}:{self._target[1]} {state}>"

    # -- the proxy's own thread and loop ----------------------------------------

    def _call(self, coro: Coroutine[Any, Any, None]) -> None:
        loop = self._loop
        if loop is None or self._thread is None:
            coro.close()
            raise RuntimeError("the proxy is not running")
        asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=_CALL_TIMEOUT)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # report a failed start to start()
            if not self._started.done():
                self._started.set_exception(exc)

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        if self._ssl is not None:
            asyncio.get_running_loop().set_exception_handler(self._on_loop_error)
        server = await asyncio.start_server(self._handle, self.listen_host, 0, ssl=self._ssl)
        try:
            self._port = int(server.sockets[0].getsockname()[1])
            self._started.set_result(None)
            await self._stopping.wait()
        finally:
            server.close()
            for link in list(self._links):
                link.abort()
            await self._drain_handlers()
            await server.wait_closed()

    def _on_loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        # asyncio reports a failed TLS handshake here; for this proxy it is
        # an expected outcome (the wrong-CA tests), so count it instead of logging it.
        if isinstance(context.get("exception"), ssl.SSLError | ConnectionError):
            self._failed_handshakes += 1
            return
        loop.default_exception_handler(context)

    async def _drain_handlers(self) -> None:
        handlers = [task for task in self._handlers if task is not asyncio.current_task()]
        if handlers:
            await asyncio.wait(handlers, timeout=_CALL_TIMEOUT)

    def _cut_now(self) -> bool:
        # A method, not the attribute: it changes while we await.
        return self._cut

    async def _do_cut(self) -> None:
        self._cut = True
        for link in list(self._links):
            link.abort()
        await self._drain_handlers()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        link = _Link(client=writer)
        try:
            if self._cut:
                self._reset += 1
                return
            try:
                up_reader, link.upstream = await asyncio.open_connection(*self._target)
            except OSError:
                self._reset += 1
                return
            if self._cut_now():  # cut while we were connecting
                self._reset += 1
                return
            self._accepted += 1
            self._links.add(link)
            link.tasks = [
                asyncio.create_task(_pump(reader, link.upstream)),
                asyncio.create_task(_pump(up_reader, writer)),
            ]
            await asyncio.wait(link.tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._links.discard(link)
            for pump in link.tasks:
                pump.cancel()
            if link.tasks:
                await asyncio.gather(*link.tasks, return_exceptions=True)
            if self._cut or link.upstream is None:
                link.abort()
            else:
                link.close()
            self._handlers.discard(task)


@dataclass
class ProxiedTansu:
    """A Tansu broker that advertises a proxy: every client connection goes through it."""

    broker: TansuBroker
    proxy: TcpProxy

    @property
    def bootstrap(self) -> str:
        """The proxy's address: give this to clients."""
        return self.proxy.address


@contextlib.contextmanager
def tansu_behind_proxy(
    *, attempts: int = 3, ssl: ssl.SSLContext | None = None
) -> Iterator[ProxiedTansu]:
    """Start a proxy, then a Tansu that listens behind it and advertises it.

    Yields a :class:`ProxiedTansu`; stops both at exit. A broker port taken
    before Tansu binds it is retried with a new one. With ``ssl`` (a server
    context, see :class:`tests.support.tls.TestPKI`) the proxy terminates TLS,
    so the broker is reachable only over TLS, at the address it advertises.
    """
    with TcpProxy(LOOPBACK, 0, ssl=ssl) as proxy:
        broker: TansuBroker | None = None
        for attempt in range(1, attempts + 1):
            port = free_port()
            proxy.set_target(LOOPBACK, port)
            candidate = TansuBroker(port=port, advertised_port=proxy.port)
            try:
                broker = candidate.start()
                break
            except TansuStartError:
                if attempt == attempts:
                    raise
        assert broker is not None
        try:
            yield ProxiedTansu(broker=broker, proxy=proxy)
        finally:
            proxy.cut()  # Tansu exits on SIGTERM only once its connections are closed
            broker.stop()

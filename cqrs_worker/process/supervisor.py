"""N worker processes under one command: :class:`Supervisor`.

Each child runs in its own process group, so a terminal's Ctrl-C reaches
only the supervisor, which forwards it: the children see exactly the
signals a single ``run`` would. On Linux a child also gets SIGTERM (a
graceful stop) if the supervisor dies without forwarding anything.

* First SIGTERM/SIGINT: forwarded to every child (each stops gracefully:
  in-flight work finishes within ``SHUTDOWN_TIMEOUT``, is committed, the
  rest is redelivered); nothing is restarted any more.
* Second signal: forwarded again, so every child exits at once (128+N).
* A child that exits while the command runs is restarted after a
  :class:`~cqrs_worker.process.backoff.Backoff` delay, keeping its number
  (and so its worker id and static instance id).
* A child that exits 2 (a configuration error, or a broker unreachable at
  start-up) before it ran stably ends the command when it is its first
  start, or after ``max_startup_failures`` such exits in a row: the children
  are stopped and the command exits 2. :attr:`Supervisor.failure` is then the
  child's one-line error, which the supervisor's caller reports once.

Output: each child's stderr is passed on line by line through the
supervisor (:mod:`cqrs_worker.process.output`), holding back only a child's
one-line error. The supervisor stays quiet about a child until the child
writes its first line (then it logs "worker process n started (pid p)" at
INFO), so a command whose children fail at start-up prints one line, like a
single ``run``; what it did meanwhile is logged at DEBUG.

Exit code: 0 when every child stopped cleanly after a stop signal, 128+N
after a second signal N, 2 as above, 1 when a child failed while stopping.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence

from cqrs_worker.process.backoff import Backoff
from cqrs_worker.process.output import ChildOutput

__all__ = ["Supervisor"]

logger = logging.getLogger(__name__)

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_CONFIG_ERROR = 2


class Supervisor:
    """Keeps ``workers`` children running; ``argv_of(n)`` is child ``n``'s command line."""

    def __init__(
        self,
        *,
        workers: int,
        argv_of: Callable[[int], Sequence[str]],
        backoff: Callable[[], Backoff] = Backoff,
        max_startup_failures: int = 5,
    ) -> None:
        if workers < 1 or max_startup_failures < 1:
            raise ValueError("workers and max_startup_failures must be at least 1")
        self._workers = workers
        self._argv_of = argv_of
        self._backoff = backoff
        self._max_startup_failures = max_startup_failures
        self._children: dict[int, asyncio.subprocess.Process] = {}
        self._outputs: dict[int, ChildOutput] = {}
        self._signals: list[signal.Signals] = []
        self._stopping = asyncio.Event()
        self._failed: int | None = None
        self._failure: str | None = None

    async def run(self) -> int:
        """Run until stopped by a signal or a configuration error; returns the exit code."""
        loop = asyncio.get_running_loop()
        for signum in _STOP_SIGNALS:
            loop.add_signal_handler(signum, self._on_signal, signum)
        try:
            logger.debug("starting %d worker processes", self._workers)
            codes = await asyncio.gather(*(self._keep(n) for n in range(self._workers)))
        finally:
            for signum in _STOP_SIGNALS:
                loop.remove_signal_handler(signum)
        if self._failed is not None:
            return self._failed
        if len(self._signals) > 1:
            return 128 + self._signals[-1]
        # A child the signal reached before it installed its handlers died of it
        # before it consumed anything: that is a clean stop too.
        clean = {0, -self._signals[0]} if self._signals else {0}
        failed = [n for n, code in enumerate(codes) if code not in clean]
        if failed:
            logger.error("worker processes %s did not stop cleanly", failed)
            return 1
        logger.info("all %d worker processes stopped", self._workers)
        return 0

    def running(self, n: int) -> bool:
        """Whether child ``n``'s process is up (not between an exit and its restart)."""
        process = self._children.get(n)
        return process is not None and process.returncode is None

    @property
    def failure(self) -> str | None:
        """Why the command failed at start-up (exit 2): the child's error line, else a note."""
        return self._failure

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def stop(self, signum: signal.Signals = signal.SIGTERM) -> None:
        """Ask every child to stop (as if the supervisor got ``signum``)."""
        self._on_signal(signum)

    # -- one child slot --------------------------------------------------------

    async def _keep(self, n: int) -> int:
        """Run child ``n`` until the command stops; its last exit code."""
        backoff = self._backoff()
        first = True
        while True:
            started = time.monotonic()
            process, output = await self._spawn(n)
            code = await process.wait()
            await output.finished()
            self._children.pop(n, None)
            ran_for = time.monotonic() - started
            if self._stopping.is_set():
                if self._failed is None:  # else it is another child's failure, reported once
                    output.release()
                return code
            delay = backoff.crashed(ran_for)
            startup_error = code == _CONFIG_ERROR and ran_for < backoff.stable_after
            if startup_error and (first or backoff.failures >= self._max_startup_failures):
                times = "" if first else f" {backoff.failures} times in a row"
                logger.debug("worker process %d exited 2 at start-up%s; stopping", n, times)
                error = output.error
                if error is None:
                    error = f"worker process {n} exited with code 2 at start-up{times}"
                elif not first:
                    error += f" (worker process {n} exited 2 at start-up{times})"
                self._fail(_CONFIG_ERROR, error)
                return code
            output.release()
            first = False
            logger.warning(
                "worker process %d (pid %d) exited with %s after %.1fs; restarting in %.1fs",
                n,
                process.pid,
                _describe(code),
                ran_for,
                delay,
            )
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._stopping.wait()
            if self._stopping.is_set():
                return 0

    async def _spawn(self, n: int) -> tuple[asyncio.subprocess.Process, ChildOutput]:
        argv = list(self._argv_of(n))
        process = await asyncio.create_subprocess_exec(
            *argv, stderr=asyncio.subprocess.PIPE, process_group=0, preexec_fn=_die_with_parent()
        )
        self._children[n] = process
        logger.debug("worker process %d spawned (pid %d)", n, process.pid)
        output = self._outputs[n] = ChildOutput(
            process.stderr,
            name=f"worker process {n}",
            on_first_line=lambda: logger.info("worker process %d started (pid %d)", n, process.pid),
        )
        output.start()
        if self._stopping.is_set():  # a signal came while it was being spawned
            _send(process, self._signals[-1] if self._signals else signal.SIGTERM)
        return process, output

    # -- stopping ----------------------------------------------------------------

    def _on_signal(self, signum: signal.Signals) -> None:
        self._signals.append(signum)
        if len(self._signals) == 1:
            logger.info(
                "%s received: stopping %d worker processes gracefully (send it again to "
                "stop them at once)",
                signum.name,
                len(self._children),
            )
        else:
            logger.warning("second %s: stopping the worker processes at once", signum.name)
        self._stopping.set()
        for process in list(self._children.values()):
            _send(process, signum)

    def _fail(self, code: int, failure: str) -> None:
        if self._failed is None:
            self._failed = code
            self._failure = failure
            # Children still starting (silent so far) are stopped because of this
            # one: what they say while stopping is no news to the user.
            for output in self._outputs.values():
                if not output.spoke:
                    output.mute()
        if not self._stopping.is_set():
            self._stopping.set()
            for process in list(self._children.values()):
                _send(process, signal.SIGTERM)


def _send(process: asyncio.subprocess.Process, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signum)


def _describe(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"signal {signal.Signals(-code).name}"
    return f"exit code {code}"


@functools.cache
def _prctl() -> Callable[..., int] | None:
    # Looked up in the supervisor: a forked child only calls it.
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn``: the child gets SIGTERM (a graceful stop) when the supervisor dies.

    Linux only (``PR_SET_PDEATHSIG``); elsewhere a killed supervisor leaves its
    children running until they are stopped themselves.
    """
    prctl = _prctl()
    if prctl is None:
        return None
    parent = os.getpid()
    set_death_signal = 1  # PR_SET_PDEATHSIG

    def setup() -> None:
        prctl(set_death_signal, int(signal.SIGTERM))
        if os.getppid() != parent:  # the supervisor died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return setup

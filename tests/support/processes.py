"""Child processes for tests: start, watch the output, signal, and always stop.

Reliability suites run real worker processes. :class:`ManagedProcess` wraps one
of them: its stdout and stderr go to a log file (never a pipe that could fill
up and block the child), :meth:`ManagedProcess.wait_for_line` waits for a line
matching a pattern under a deadline, and :meth:`ManagedProcess.stop` sends
SIGTERM, then SIGKILL after a deadline. :class:`ProcessSet` (the ``processes``
fixture) stops every process of a test at teardown, pass or fail.

No orphans, even when pytest itself dies:

- every child starts in its own session (process group), and a final SIGKILL
  goes to that whole group, so grandchildren go too;
- on Linux, a child started from the main thread gets ``PR_SET_PDEATHSIG``
  (SIGKILL), so it dies with the test process even on ``kill -9``;
- processes still running when the interpreter exits are stopped by an
  ``atexit`` hook (registered at the first start, not at import).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import functools
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

__all__ = [
    "REPO_ROOT",
    "ManagedProcess",
    "ProcessExitedError",
    "ProcessSet",
    "python_argv",
    "python_env",
]

#: The repository root (``tests/support/processes.py`` -> two levels up).
REPO_ROOT = Path(__file__).resolve().parents[2]

_POLL_INTERVAL = 0.02
_KILL_WAIT = 10.0
_TAIL_LINES = 40

_live: set[ManagedProcess] = set()
_live_lock = threading.Lock()
_atexit_registered = False


class ProcessExitedError(RuntimeError):
    """The process exited while we were waiting for it to print something."""


def python_argv(args: Sequence[str]) -> list[str]:
    """The command line that runs ``args`` with this interpreter, unbuffered."""
    return [sys.executable, "-u", *args]


def python_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment for a Python child.

    Output is unbuffered (lines show up in the log at once) and the repository
    root comes first on ``PYTHONPATH`` (so ``tests.…`` modules import).
    """
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    paths = [str(REPO_ROOT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    if extra:
        env.update(extra)
    return env


@functools.cache
def _prctl() -> Any:
    # Resolved in the parent: the child after fork only calls it (no dlopen there).
    return ctypes.CDLL(None, use_errno=True).prctl


def _death_signal_setup() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child die with us (Linux, main thread only).

    ``PR_SET_PDEATHSIG`` fires when the *thread* that forked the child exits,
    so it is only safe for children started from the main thread.
    """
    if not sys.platform.startswith("linux"):
        return None
    if threading.current_thread() is not threading.main_thread():
        return None
    prctl = _prctl()
    parent = os.getpid()
    pr_set_pdeathsig = 1

    def setup() -> None:
        prctl(pr_set_pdeathsig, int(signal.SIGKILL))
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGKILL)

    return setup


def _register(process: ManagedProcess) -> None:
    global _atexit_registered
    with _live_lock:
        _live.add(process)
        if not _atexit_registered:
            atexit.register(_stop_all_live)
            _atexit_registered = True


def _unregister(process: ManagedProcess) -> None:
    with _live_lock:
        _live.discard(process)


def _stop_all_live() -> None:
    with _live_lock:
        leftovers = list(_live)
    for process in leftovers:
        process.stop(timeout=3.0)


class ManagedProcess:
    """One child process whose output goes to ``log_path``.

    ``wait_for_line`` works like ``expect``: it reads from a cursor, and a match
    moves the cursor past the matched line, so consecutive waits see
    consecutive output. The log is opened for appending, so a restarted worker
    may share a log file with its previous run; :meth:`output` returns only
    this run's part.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | str | None = None,
        name: str | None = None,
    ) -> None:
        if not argv:
            raise ValueError("argv must not be empty")
        self.argv = list(argv)
        self.log_path = Path(log_path)
        self.env = dict(env) if env is not None else None
        self.cwd = Path(cwd) if cwd is not None else None
        self.name = name or Path(self.argv[0]).name
        self._popen: subprocess.Popen[bytes] | None = None
        self._start_offset = 0
        self._cursor = 0

    @classmethod
    def python(
        cls,
        args: Sequence[str],
        *,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | str | None = REPO_ROOT,
        name: str | None = None,
    ) -> ManagedProcess:
        """A Python child: ``python -u *args`` with :func:`python_env` plus ``env``."""
        return cls(
            python_argv(args),
            log_path=log_path,
            env=python_env(env),
            cwd=cwd,
            name=name or "python",
        )

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> Self:
        """Start the process (once)."""
        if self._popen is not None:
            raise RuntimeError(f"{self.name} was already started")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._start_offset = self._cursor = log.tell()
            self._popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
                preexec_fn=_death_signal_setup(),
            )
        _register(self)
        return self

    @property
    def started(self) -> bool:
        return self._popen is not None

    @property
    def pid(self) -> int:
        return self._require().pid

    @property
    def returncode(self) -> int | None:
        """The exit status (negative: killed by that signal), ``None`` while running."""
        return self._require().poll()

    @property
    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def send_signal(self, sig: int) -> None:
        """Send ``sig`` to the process itself (not its children); no-op once exited."""
        popen = self._require()
        if popen.poll() is None:
            popen.send_signal(sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def pause(self) -> None:
        """SIGSTOP: the process is frozen (its sockets stay open but nothing answers)."""
        self.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.send_signal(signal.SIGCONT)

    def wait(self, timeout: float) -> int:
        """Wait for the exit status; ``TimeoutError`` (with the output tail) after ``timeout``."""
        popen = self._require()
        try:
            return popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise TimeoutError(
                f"{self.describe()} still running after {timeout:.1f}s\n{self._tail_block()}"
            ) from None

    async def wait_async(self, timeout: float) -> int:
        """:meth:`wait` that yields to the event loop while polling."""
        popen = self._require()
        deadline = time.monotonic() + timeout
        while (code := popen.poll()) is None:
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"{self.describe()} still running after {timeout:.1f}s\n{self._tail_block()}"
                )
            await asyncio.sleep(_POLL_INTERVAL)
        return code

    def stop(self, timeout: float = 10.0) -> int | None:
        """Stop the process: SIGTERM, then SIGKILL (to its process group) after ``timeout``.

        Safe to call more than once and on a process that already exited;
        resumes a paused process first. Returns the exit status (``None`` if it
        was never started).
        """
        popen = self._popen
        if popen is None:
            return None
        try:
            if popen.poll() is None:
                popen.send_signal(signal.SIGTERM)
                popen.send_signal(signal.SIGCONT)  # a stopped process handles SIGTERM only now
                try:
                    popen.wait(timeout)
                except subprocess.TimeoutExpired:
                    self._kill_group()
                    popen.wait(_KILL_WAIT)
            self._kill_group()  # whatever it left behind in its session
        finally:
            _unregister(self)
        return popen.returncode

    def _kill_group(self) -> None:
        # The child leads its own session, so its process group id is its pid.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)

    def __enter__(self) -> Self:
        return self if self.started else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- output ------------------------------------------------------------

    def wait_for_line(self, pattern: str | re.Pattern[str], timeout: float = 30.0) -> re.Match[str]:
        """Wait until the process prints a line matching ``pattern`` (``re.search``).

        Raises ``ProcessExitedError`` as soon as the process exits without
        printing it, and ``TimeoutError`` after ``timeout`` seconds; both carry
        the tail of the output.
        """
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while (match := self._poll_line(regex)) is None:
            if time.monotonic() >= deadline:
                raise self._line_timeout(regex, timeout)
            time.sleep(_POLL_INTERVAL)
        return match

    async def await_line(
        self,
        pattern: str | re.Pattern[str],
        timeout: float = 30.0,
    ) -> re.Match[str]:
        """:meth:`wait_for_line` that yields to the event loop while polling."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while (match := self._poll_line(regex)) is None:
            if time.monotonic() >= deadline:
                raise self._line_timeout(regex, timeout)
            await asyncio.sleep(_POLL_INTERVAL)
        return match

    def output(self) -> str:
        """Everything this run printed so far."""
        return self._read_from(self._start_offset).decode("utf-8", "replace")

    def tail(self, lines: int = _TAIL_LINES) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    def describe(self) -> str:
        state = "not started"
        if self._popen is not None:
            code = self._popen.poll()
            state = "running" if code is None else f"exited with {code}"
        pid = f" pid {self._popen.pid}" if self._popen is not None else ""
        return f"process {self.name!r}{pid} ({state}; log {self.log_path})"

    def _poll_line(self, regex: re.Pattern[str]) -> re.Match[str] | None:
        match = self._scan(regex, final=False)
        if match is not None:
            return match
        if self.returncode is not None:
            # Exited: everything it wrote is in the file now, partial last line included.
            match = self._scan(regex, final=True)
            if match is not None:
                return match
            raise ProcessExitedError(
                f"{self.describe()} exited before printing a line matching "
                f"{regex.pattern!r}\n{self._tail_block()}"
            )
        return None

    def _scan(self, regex: re.Pattern[str], *, final: bool) -> re.Match[str] | None:
        data = self._read_from(self._cursor)
        pos = 0
        while pos < len(data):
            newline = data.find(b"\n", pos)
            if newline < 0 and not final:
                break  # wait for the rest of the line
            end = len(data) if newline < 0 else newline + 1
            line = data[pos:end].decode("utf-8", "replace").rstrip("\r\n")
            pos = end
            match = regex.search(line)
            if match is not None:
                self._cursor += pos
                return match
        self._cursor += pos
        return None

    def _read_from(self, offset: int) -> bytes:
        try:
            with self.log_path.open("rb") as log:
                log.seek(offset)
                return log.read()
        except FileNotFoundError:
            return b""

    def _line_timeout(self, regex: re.Pattern[str], timeout: float) -> TimeoutError:
        return TimeoutError(
            f"{self.describe()} printed no line matching {regex.pattern!r} "
            f"within {timeout:.1f}s\n{self._tail_block()}"
        )

    def _tail_block(self) -> str:
        return f"--- last output lines ---\n{self.tail()}\n--- end ---"

    def _require(self) -> subprocess.Popen[bytes]:
        if self._popen is None:
            raise RuntimeError(f"{self.name} was not started")
        return self._popen

    def __repr__(self) -> str:
        return f"<ManagedProcess {self.describe()}>"


class ProcessSet:
    """The processes of one test, all stopped by :meth:`stop_all`.

    The ``processes`` fixture yields one and calls ``stop_all`` at teardown
    whatever the outcome. Logs go to ``log_dir/<name>.log`` (a name used twice
    gets a numeric suffix).
    """

    def __init__(self, log_dir: Path, *, stop_timeout: float = 10.0) -> None:
        self.log_dir = Path(log_dir)
        self.stop_timeout = stop_timeout
        self._processes: list[ManagedProcess] = []
        self._names: set[str] = set()

    def start(
        self,
        argv: Sequence[str],
        *,
        name: str,
        env: Mapping[str, str] | None = None,
        cwd: Path | str | None = None,
    ) -> ManagedProcess:
        """Start ``argv`` as is (``env``, when given, is the whole environment)."""
        unique = self._unique(name)
        log_path = self._log_path(unique)
        process = ManagedProcess(argv, log_path=log_path, env=env, cwd=cwd, name=unique)
        return self._started(process)

    def start_python(
        self,
        args: Sequence[str],
        *,
        name: str,
        env: Mapping[str, str] | None = None,
        cwd: Path | str | None = REPO_ROOT,
    ) -> ManagedProcess:
        """Start ``python -u *args``; ``env`` is added to this process's environment."""
        unique = self._unique(name)
        process = ManagedProcess.python(
            args, log_path=self._log_path(unique), env=env, cwd=cwd, name=unique
        )
        return self._started(process)

    def stop_all(self) -> None:
        """Stop every process, newest first; never raises for one that misbehaves."""
        errors: list[BaseException] = []
        for process in reversed(self._processes):
            try:
                process.stop(self.stop_timeout)
            except Exception as exc:  # keep stopping the others
                errors.append(exc)
        if errors:
            raise RuntimeError(f"could not stop {len(errors)} process(es): {errors!r}")

    def __iter__(self) -> Iterator[ManagedProcess]:
        return iter(list(self._processes))

    def __len__(self) -> int:
        return len(self._processes)

    def _started(self, process: ManagedProcess) -> ManagedProcess:
        self._processes.append(process)
        return process.start()

    def _unique(self, name: str) -> str:
        candidate, n = name, 1
        while candidate in self._names:
            n += 1
            candidate = f"{name}-{n}"
        self._names.add(candidate)
        return candidate

    def _log_path(self, unique_name: str) -> Path:
        safe = re.sub(r"[^A-Za-z0-9._-]+", "-", unique_name) or "process"
        return self.log_dir / f"{safe}.log"

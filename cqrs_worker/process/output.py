"""A child's stderr, passed on by the supervisor: :class:`ChildOutput`.

Each child of ``run --workers N`` writes its stderr into a pipe the
supervisor reads; every line goes on to the supervisor's stderr as soon as it
is complete, so the children's logs appear as they would without
``--workers`` (and lines of different children never interleave mid-line).

One kind of line is held back: the command line's own one-line error,
``cqrs-worker <command>: <what to fix>`` (log lines start with a time or
``{``). A child that exits 2 at its first start ends the whole command, and
the supervisor reports that line once, instead of once per child; in every
other case the supervisor passes it on (:meth:`ChildOutput.release`) when the
child has exited. The children that had not written a line yet when another
one ended the command are muted (:meth:`ChildOutput.mute`): what they write
while being stopped goes to the DEBUG log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Callable

__all__ = ["ERROR_PREFIX", "ChildOutput"]

logger = logging.getLogger(__name__)

#: How the CLI's one-line errors start (``cqrs-worker run: ...``, ``cqrs-worker: ...``).
ERROR_PREFIX = "cqrs-worker"

_CHUNK = 64 * 1024
#: How long a child's stderr may stay open after it exited (a process it started holding it).
_DRAIN_TIMEOUT = 5.0
#: A line longer than this is passed on in pieces rather than buffered without bound.
_MAX_LINE = 1024 * 1024


class ChildOutput:
    """Reads one child's stderr until it closes; ``on_first_line`` runs before its first line.

    ``stream`` is the child's stderr pipe (``None``, when it was not piped,
    forwards nothing). :attr:`error` is the last error line the child wrote
    (held back, see the module docstring); :attr:`spoke` says whether any
    other line came.
    """

    def __init__(
        self,
        stream: asyncio.StreamReader | None,
        *,
        name: str = "child",
        on_first_line: Callable[[], None] = lambda: None,
    ) -> None:
        self._stream = stream
        self._name = name
        self._muted = False
        self._on_first_line = on_first_line
        self._held: list[str] = []
        self._task: asyncio.Task[None] | None = None
        self.spoke = False

    @property
    def error(self) -> str | None:
        return self._held[-1].rstrip("\n") if self._held else None

    def start(self) -> None:
        """Forward in a task until the child closes its stderr."""
        self._task = asyncio.create_task(self.forward(), name="child-output")

    async def finished(self) -> None:
        """Wait (after the child exited) until everything it wrote is passed on or held."""
        if self._task is None:
            return
        # What the child wrote is in the pipe; a process it started may hold the
        # pipe open, and that one's output is not waited for.
        done, _ = await asyncio.wait([self._task], timeout=_DRAIN_TIMEOUT)
        if not done:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def forward(self) -> None:
        """Pass every complete line on until the child closes its stderr."""
        if self._stream is None:
            return
        pending = b""
        while chunk := await self._stream.read(_CHUNK):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                self._line(line + b"\n")
            if len(pending) > _MAX_LINE:
                self._line(pending)
                pending = b""
        if pending:  # the child's last line had no newline
            self._line(pending + b"\n")

    def release(self) -> None:
        """Pass the held-back error lines on (the child's exit does not end the command)."""
        held, self._held = self._held, []
        for line in held:
            _write(line)

    def mute(self) -> None:
        """From now on, log the child's lines at DEBUG instead of passing them on."""
        self._muted = True

    def _line(self, data: bytes) -> None:
        text = data.decode("utf-8", "replace")
        if self._muted:
            logger.debug("%s: %s", self._name, text.rstrip("\n"))
            return
        if text.startswith(ERROR_PREFIX):
            self._held.append(text)
            return
        if not self.spoke:
            self.spoke = True
            self._on_first_line()
        _write(text)


def _write(text: str) -> None:
    # sys.stderr is looked up on each write: whatever stderr is now (a test's capture too).
    sys.stderr.write(text)
    sys.stderr.flush()

"""SIGTERM/SIGINT handling for a running worker: :func:`stop_signals`.

The first signal asks for a graceful stop (stop taking messages, let in-flight
work finish within the shutdown timeout, commit, close, exit 0). A second one
exits the process at once with ``128 + signal number``: nothing more is
acknowledged or committed, so the broker redelivers whatever was unfinished.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator

__all__ = ["STOP_SIGNALS", "stop_signals"]

logger = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextlib.contextmanager
def stop_signals(request_stop: Callable[[], None]) -> Iterator[None]:
    """Within the block, the first stop signal calls ``request_stop``; a second exits now.

    Must be entered with a running event loop (the handlers run in it).
    """
    loop = asyncio.get_running_loop()
    received: list[signal.Signals] = []

    def on_signal(signum: signal.Signals) -> None:
        received.append(signum)
        if len(received) == 1:
            logger.info("%s received: stopping gracefully (send it again to exit now)", signum.name)
            request_stop()
            return
        logger.warning("second %s: exiting now; unfinished work is not acknowledged", signum.name)
        _flush_logs()
        os._exit(128 + signum)

    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        yield
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)


def _flush_logs() -> None:
    for handler in logging.getLogger().handlers:
        with contextlib.suppress(Exception):
            handler.flush()
    with contextlib.suppress(Exception):
        sys.stderr.flush()
        sys.stdout.flush()

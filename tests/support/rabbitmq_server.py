"""Stop and start the local RabbitMQ for outage tests: :class:`LocalRabbitMQ`.

``rabbitmqctl stop_app`` stops the RabbitMQ application on the local node (every
client connection is closed, the AMQP port stops answering; the Erlang node
stays up), ``rabbitmqctl start_app`` starts it again with durable queues and
persistent messages intact. The whole cycle takes about 1.5 s.

The server is shared: other suites use it after the outage test. So the
application is always started again: by :meth:`LocalRabbitMQ.ensure_running`
(call it from a fixture's teardown), and, should the test process die while
the application is stopped, by a watchdog process started beside it, which
runs ``start_app`` after :data:`WATCHDOG_SECONDS` unless it is ended first.

:meth:`LocalRabbitMQ.of` raises :class:`RestartUnavailableError` (with the reason,
to skip on) when the server the tests use cannot be restarted from here:
``rabbitmqctl`` is missing or cannot reach the node, or the URL names another
machine or a port the local node does not listen on.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from tests.support.net import tcp_connect_error
from tests.support.waiting import wait_until

__all__ = ["WATCHDOG_SECONDS", "LocalRabbitMQ", "RestartUnavailableError"]

#: How long the application may stay stopped before the watchdog starts it.
WATCHDOG_SECONDS = 60
_CTL_TIMEOUT = 60.0
_PORT_TIMEOUT = 30.0
_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_ANY_INTERFACE = frozenset({"0.0.0.0", "::", "[::]"})


class RestartUnavailableError(RuntimeError):
    """The RabbitMQ the tests use cannot be restarted from this process (the reason says why)."""


@dataclass
class LocalRabbitMQ:
    """The local node behind ``host:port``, restarted with ``ctl`` (``rabbitmqctl``)."""

    ctl: str
    host: str
    port: int
    node: str
    _watchdog: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _stopped_by_us: bool = field(default=False, repr=False)

    @classmethod
    def of(cls, url: str) -> LocalRabbitMQ:
        """The local node serving ``url``; :class:`RestartUnavailableError` if there is none."""
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 5672
        if host not in _LOCAL_HOSTS:
            raise RestartUnavailableError(
                f"RabbitMQ at {host}:{port} is not on this machine, so it cannot be restarted "
                f"(point CQRS_WORKER_TEST_RABBITMQ at the local server to run this test)"
            )
        ctl = shutil.which("rabbitmqctl")
        if ctl is None:
            raise RestartUnavailableError(
                "rabbitmqctl is not on PATH, so RabbitMQ cannot be restarted "
                "(install rabbitmq-server or run the test where it is)"
            )
        status = _status(ctl)
        amqp_ports = {
            int(listener["port"])
            for listener in status.get("listeners", [])
            if str(listener.get("protocol", "")).startswith("amqp")
            and (str(listener.get("interface", "")) in _ANY_INTERFACE | {host, "127.0.0.1"})
        }
        node = next((str(item["node"]) for item in status.get("listeners", [])), "?")
        if port not in amqp_ports:
            raise RestartUnavailableError(
                f"the local RabbitMQ node {node} listens for AMQP on {sorted(amqp_ports)}, not "
                f"on {host}:{port} (CQRS_WORKER_TEST_RABBITMQ), so that is another server"
            )
        return cls(ctl=ctl, host=host, port=port, node=node)

    def stop_app(self) -> None:
        """Stop the RabbitMQ application (connections close, the port stops answering)."""
        self._start_watchdog()
        self._stopped_by_us = True
        self._ctl("stop_app")

    def start_app(self) -> None:
        """Start the application, wait for it to boot and the AMQP port to answer."""
        self._ctl("start_app")
        self._ctl("await_startup")
        wait_until(
            lambda: tcp_connect_error(self.host, self.port, timeout=1.0) is None,
            timeout=_PORT_TIMEOUT,
            interval=0.1,
            message=f"RabbitMQ started but {self.host}:{self.port} does not answer",
        )
        self._stopped_by_us = False
        self._end_watchdog()

    def ensure_running(self) -> None:
        """Start the application again if :meth:`stop_app` stopped it (for teardowns)."""
        if self._stopped_by_us:
            self.start_app()
        self._end_watchdog()

    def _ctl(self, *args: str) -> None:
        result = subprocess.run(
            [self.ctl, *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=_CTL_TIMEOUT,
            check=False,
        )
        if result.returncode != 0:
            output = (result.stdout + result.stderr).decode("utf-8", "replace").strip()
            raise RuntimeError(f"rabbitmqctl {' '.join(args)} exited {result.returncode}: {output}")

    def _start_watchdog(self) -> None:
        if self._watchdog is not None:
            return
        # Its own session and no parent-death signal: it outlives a killed test process.
        self._watchdog = subprocess.Popen(
            ["sh", "-c", f'sleep {WATCHDOG_SECONDS} && exec "$0" start_app', self.ctl],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def _end_watchdog(self) -> None:
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(watchdog.pid, signal.SIGKILL)  # the shell and its sleep
        watchdog.wait(10)


def _status(ctl: str) -> dict[str, Any]:
    started = time.monotonic()
    try:
        result = subprocess.run(
            [ctl, "status", "--formatter", "json"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=_CTL_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise RestartUnavailableError(
            f"rabbitmqctl status did not answer within {time.monotonic() - started:.0f}s"
        ) from None
    if result.returncode != 0:
        output = (result.stdout + result.stderr).decode("utf-8", "replace").strip()
        raise RestartUnavailableError(
            f"rabbitmqctl cannot reach the local node (exit {result.returncode}: "
            f"{output[-300:]}); run the test as a user that may control RabbitMQ"
        )
    status: dict[str, Any] = json.loads(result.stdout)
    return status

"""Loopback networking helpers: free ports, address parsing, TCP reachability, a silent server."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

__all__ = ["LOOPBACK", "free_port", "parse_host_port", "silent_server", "tcp_connect_error"]

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """Return a TCP port on ``host`` that is free right now.

    The kernel picks it (bind to port 0), so parallel test runs do not collide
    on fixed numbers. Another process may still take it before the caller binds
    it: callers that start a server on it should retry with a new port when the
    bind fails.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def parse_host_port(address: str, default_port: int | None = None) -> tuple[str, int]:
    """Split ``"host:port"`` (or ``"[v6]:port"``) into its parts."""
    text = address.strip()
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        if default_port is None:
            raise ValueError(f"expected host:port, got {address!r}")
        return text.strip("[]"), default_port
    return host.strip("[]"), int(port)


def tcp_connect_error(host: str, port: int, timeout: float = 2.0) -> OSError | None:
    """Try one TCP connection; return the error, or ``None`` when it connected."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return exc


@contextlib.asynccontextmanager
async def silent_server(host: str = LOOPBACK) -> AsyncIterator[int]:
    """A TCP server that accepts connections and never answers; yields its port.

    For start-up timeouts: a client connects fine, then waits for a handshake
    that never comes.
    """
    clients: list[asyncio.StreamWriter] = []

    async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        clients.append(writer)

    server = await asyncio.start_server(accept, host, 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in clients:
            writer.close()
        server.close()
        await server.wait_closed()

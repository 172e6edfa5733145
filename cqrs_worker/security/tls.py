"""Client TLS contexts from CA, certificate and key files: :func:`client_ssl_context`.

Built with aiokafka's :func:`~aiokafka.helpers.create_ssl_context` (the
system's CAs when no CA file is given; hostnames always checked), used for
Kafka and AMQP alike. Every failure is a
:class:`~cqrs_worker.errors.ConfigurationError` naming the variable to fix.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from pathlib import Path

from aiokafka.helpers import create_ssl_context

from cqrs_worker.errors import ConfigurationError

__all__ = ["client_ssl_context", "tls_failure"]


def client_ssl_context(
    *,
    cafile: Path | None,
    certfile: Path | None,
    keyfile: Path | None,
    key_password: str | None,
    variables: str,
) -> ssl.SSLContext:
    """A client context trusting ``cafile`` (else the system CAs), presenting ``certfile``.

    ``variables`` is the prefix of the settings' variable names for messages,
    e.g. ``CQRS_WORKER_KAFKA_SSL``.
    """
    if keyfile is not None and certfile is None:
        raise ConfigurationError(
            f"{variables}_KEYFILE is set without {variables}_CERTFILE; give the client "
            f"certificate too"
        )
    try:
        context: ssl.SSLContext = create_ssl_context(cafile=cafile)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigurationError(
            f"{variables}_CAFILE ({cafile}) holds no usable CA certificate ({_reason(exc)})"
        ) from None
    if certfile is not None:
        try:
            context.load_cert_chain(certfile, keyfile, password=key_password)
        except (ssl.SSLError, OSError) as exc:
            raise ConfigurationError(
                f"cannot load the client certificate {variables}_CERTFILE ({certfile})"
                f"{f' with {variables}_KEYFILE ({keyfile})' if keyfile else ''}: {_reason(exc)}; "
                f"check that the key matches the certificate and {variables}_KEY_PASSWORD "
                f"if the key is encrypted"
            ) from None
    return context


async def tls_failure(host: str, port: int, context: ssl.SSLContext, timeout: float) -> str | None:
    """Why a TLS handshake with ``host:port`` fails, or ``None`` if it succeeds (or cannot tell).

    Used only after a client failed to connect, to turn a generic
    "cannot connect" into "certificate verify failed" and the like.
    """
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port, ssl=context)
    except ssl.SSLError as exc:
        return _reason(exc)
    except (OSError, TimeoutError):
        return None
    try:
        # With TLS 1.3 a server that refuses our client certificate says so only
        # after the handshake: its alert (or just a closed connection) is what
        # the first read gets. A broker never closes a fresh connection unasked.
        async with asyncio.timeout(min(timeout, 1.0)):
            data = await reader.read(1)
    except ssl.SSLError as exc:
        writer.transport.abort()
        return _reason(exc)
    except (OSError, TimeoutError):
        data = None
    if data == b"":
        writer.transport.abort()
        return (
            "the server closed the connection right after the TLS handshake: "
            "does it require a client certificate?"
        )
    writer.close()
    with contextlib.suppress(OSError, ssl.SSLError):
        await writer.wait_closed()
    return None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
        return f"certificate verify failed: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason).replace("_", " ").lower()
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"{type(exc).__name__}: {exc}"

"""Keeping passwords out of logs, errors and ``repr``: :func:`redact_url` and :func:`redact_value`.

A URL or DSN keeps its user, host, port, path and query so an error still
says *where*; only the password becomes ``***``. Any other secret is shown
as ``'**********'`` (what pydantic's ``SecretStr`` prints).
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

__all__ = ["HIDDEN", "redact_url", "redact_value"]

#: What a secret that is not a URL looks like in messages.
HIDDEN = "**********"


def redact_url(url: str) -> str:
    """``url`` with its password replaced by ``***``: ``amqp://user:***@host:5672/vhost``.

    A value that does not parse as a URL is returned unchanged only when it
    holds no ``user:password@`` part; otherwise it is hidden whole (a
    malformed URL may still carry the password).
    """
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # e.g. an invalid port: the password may still be in there
        return HIDDEN if "@" in url else url
    if password is None:
        if "@" in parts.netloc and ":" in parts.netloc.rpartition("@")[0]:
            return HIDDEN
        return url
    user, _, host = parts.netloc.rpartition("@")
    name = user.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{name}:***@{host}"))


def redact_value(value: object) -> str:
    """How a secret setting's value may appear in a message: a redacted URL or ``HIDDEN``."""
    if value is None:
        return "None"
    if isinstance(value, str) and "://" in value:
        return repr(redact_url(value))
    return repr(HIDDEN)

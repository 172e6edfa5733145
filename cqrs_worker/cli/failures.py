"""What the command line prints when it cannot start: one line, no traceback, no password.

:func:`explain` turns the exceptions that mean "the set-up is wrong" into one
line saying what to fix; anything else is a bug or a failure while running,
which the caller logs with its traceback (exit 1). Every line goes through
:func:`redact` first, so a password inside a URL never reaches the terminal.
"""

from __future__ import annotations

import re
from collections.abc import Container

import pydantic
import sqlalchemy.exc

from cqrs_worker.errors import ConfigurationError

__all__ = ["describe_validation", "explain", "one_line", "redact"]

# scheme://user:password@host -> scheme://user:***@host. Hints in our own
# messages write placeholders in angle brackets (<password>), which a URL
# cannot hold unencoded, so they are left alone.
_URL_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@'\"<>]*:)[^\s@'\"<>]*@")


def redact(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@host`` URL replaced."""
    return _URL_PASSWORD.sub(r"\1***@", text)


def one_line(text: str) -> str:
    """Several lines (a heading and indented items) joined into one."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return ""
    head, rest = lines[0], lines[1:]
    if not rest:
        return head
    return f"{head} {'; '.join(rest)}" if head.endswith(":") else "; ".join(lines)


def describe_validation(exc: pydantic.ValidationError, flags: Container[str] = ()) -> str:
    """Each invalid setting named by its variable (and flag, where ``flags`` has its field)."""
    from cqrs_worker.cli.environment import settings_classes

    prefixes = {
        cls.__name__: str(cls.model_config.get("env_prefix") or "").upper()
        for cls in settings_classes()
    }
    prefix = prefixes.get(exc.title)
    parts = []
    for error in exc.errors(include_url=False):
        field = str(error["loc"][0]) if error["loc"] else ""
        message = error["msg"].removeprefix("Value error, ")
        if prefix is None or not field:
            parts.append(f"{field}: {message}" if field else message)
            continue
        name = f"{prefix}{field.upper()}"
        if field in flags:
            name += f" (--{field.replace('_', '-')})"
        parts.append(f"{name}: {message}, got {error['input']!r}")
    return f"invalid {exc.title}: " + "; ".join(parts)


def explain(exc: BaseException, flags: Container[str] = ()) -> str | None:
    """One line saying what to fix, for an exception that means bad set-up; else ``None``."""
    if isinstance(exc, ConfigurationError):
        text = one_line(str(exc))
    elif isinstance(exc, pydantic.ValidationError):
        text = describe_validation(exc, flags)
    elif isinstance(exc, sqlalchemy.exc.ArgumentError | sqlalchemy.exc.NoSuchModuleError):
        text = (
            f"the database URL is not valid ({one_line(str(exc))}); it reads "
            f"dialect+driver://<user>:<password>@<host>:<port>/<database>, "
            f"e.g. postgresql+asyncpg://app@db:5432/app"
        )
    else:
        return None
    return redact(text)

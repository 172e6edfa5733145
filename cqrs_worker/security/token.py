"""The OAUTHBEARER hook: :class:`TokenProvider` and :func:`load_token_provider`.

A token provider is any object with ``async def token(self) -> str``
(aiokafka's :class:`~aiokafka.abc.AbstractTokenProvider` shape; it should
cache and refresh its token itself). Give it in code, or as a ``module:attr``
path (``CQRS_WORKER_KAFKA_SASL_OAUTH_TOKEN_PROVIDER=myapp.auth:provider``)
naming the object, or a class or function that returns one (called once,
without arguments).
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any, Protocol, runtime_checkable

from aiokafka.abc import AbstractTokenProvider

from cqrs_worker.errors import ConfigurationError

__all__ = ["TokenProvider", "load_token_provider"]

_VARIABLE = "CQRS_WORKER_KAFKA_SASL_OAUTH_TOKEN_PROVIDER"


@runtime_checkable
class TokenProvider(Protocol):
    """Gives the OAuth bearer token the Kafka client authenticates with."""

    async def token(self) -> str: ...


class _Adapter(AbstractTokenProvider):  # type: ignore[misc]  # aiokafka ships no types
    """aiokafka accepts only subclasses of its ABC; this wraps any :class:`TokenProvider`."""

    def __init__(self, provider: TokenProvider) -> None:
        self._provider = provider

    async def token(self) -> str:
        return await self._provider.token()

    def extensions(self) -> dict[str, str]:
        extensions = getattr(self._provider, "extensions", None)
        return dict(extensions()) if callable(extensions) else {}


def load_token_provider(value: str | TokenProvider) -> AbstractTokenProvider:
    """The aiokafka token provider ``value`` gives (an object, or a ``module:attr`` path)."""
    provider: Any = _import(value) if isinstance(value, str) else value
    if not _is_provider(provider) and callable(provider):
        provider = provider()
    if not _is_provider(provider):
        raise ConfigurationError(
            f"{_VARIABLE}: {_name(value)} is a {type(provider).__name__}, not a token provider "
            f"(an object with 'async def token(self) -> str')"
        )
    if isinstance(provider, AbstractTokenProvider):
        return provider
    return _Adapter(provider)


def _is_provider(value: object) -> bool:
    token = getattr(value, "token", None)
    return not isinstance(value, type) and inspect.iscoroutinefunction(token)


def _name(value: object) -> str:
    return repr(value) if isinstance(value, str) else type(value).__name__


def _import(path: str) -> Any:
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise ConfigurationError(f"{_VARIABLE}: expected MODULE:ATTR, got {path!r}")
    try:
        value: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(f"{_VARIABLE}: cannot import {module_name!r} ({exc})") from None
    for part in attr.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise ConfigurationError(
                f"{_VARIABLE}: {module_name!r} has no attribute {attr!r}"
            ) from None
    return value

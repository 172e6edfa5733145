"""Token providers the OAUTHBEARER tests import by ``module:attr``."""

from __future__ import annotations

from aiokafka.abc import AbstractTokenProvider


class StaticToken:
    """A plain object with ``async token()`` (not aiokafka's ABC)."""

    def __init__(self, value: str = "static-token") -> None:
        self.value = value

    async def token(self) -> str:
        return self.value

    def extensions(self) -> dict[str, str]:
        return {"logicalCluster": "lkc-1"}


class NativeToken(AbstractTokenProvider):  # type: ignore[misc]  # aiokafka ships no types
    async def token(self) -> str:
        return "native-token"


provider = StaticToken("from-module")
native = NativeToken()


def build() -> StaticToken:
    return StaticToken("from-factory")


not_a_provider = 42

"""The OAUTHBEARER hook: a token provider from code or from a ``module:attr`` path."""

from __future__ import annotations

import pytest
from aiokafka.abc import AbstractTokenProvider

from cqrs_worker.errors import ConfigurationError
from cqrs_worker.security import load_token_provider
from tests.unit.security.providers import NativeToken, StaticToken, native

PATH = "tests.unit.security.providers"


@pytest.mark.parametrize(
    ("target", "token"),
    [
        (f"{PATH}:provider", "from-module"),
        (f"{PATH}:build", "from-factory"),
        (f"{PATH}:StaticToken", "static-token"),
        (f"{PATH}:NativeToken", "native-token"),
    ],
)
async def test_an_import_path_names_an_object_or_what_builds_one(target: str, token: str) -> None:
    provider = load_token_provider(target)
    assert isinstance(provider, AbstractTokenProvider)  # what aiokafka insists on
    assert await provider.token() == token


async def test_a_plain_object_is_adapted_with_its_extensions() -> None:
    provider = load_token_provider(StaticToken("t"))
    assert await provider.token() == "t"
    assert provider.extensions() == {"logicalCluster": "lkc-1"}


def test_aiokafkas_own_providers_are_used_as_they_are() -> None:
    assert load_token_provider(native) is native
    assert isinstance(load_token_provider(NativeToken()), NativeToken)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no_colon", "expected MODULE:ATTR"),
        ("tests.unit.security.nothing_here:x", "cannot import"),
        (f"{PATH}:missing", "has no attribute 'missing'"),
        (f"{PATH}:not_a_provider", "is a int, not a token provider"),
    ],
)
def test_wrong_paths_name_the_variable(target: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        load_token_provider(target)
    assert str(caught.value).startswith("CQRS_WORKER_KAFKA_SASL_OAUTH_TOKEN_PROVIDER: ")

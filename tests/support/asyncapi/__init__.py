"""Validating AsyncAPI 3.0 documents against the official JSON Schema, offline.

The schema is vendored next to this module (see ``README.md`` here for its
source and licence); its ``$ref``s point at ``$id``s bundled in the same file,
so jsonschema resolves them without the network.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs installed; two calls

__all__ = ["SCHEMA_PATH", "asyncapi_errors", "validate_asyncapi"]

SCHEMA_PATH = Path(__file__).with_name("asyncapi-3.0.0.json")


@functools.cache
def _validator() -> Any:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return jsonschema.Draft7Validator(schema)


def asyncapi_errors(document: object) -> list[str]:
    """Every violation of the AsyncAPI 3.0.0 schema, as ``path: message`` (empty: valid)."""
    errors = sorted(_validator().iter_errors(document), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}" for e in errors]


def validate_asyncapi(document: object) -> None:
    """Raise ``AssertionError`` listing the violations, if any."""
    errors = asyncapi_errors(document)
    assert not errors, "not a valid AsyncAPI 3.0.0 document:\n" + "\n".join(errors)

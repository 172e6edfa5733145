"""compose.yaml against the Compose Specification's JSON Schema (vendored, offline), and
run like the cluster: the image's numeric user, read-only root, no capabilities, a grace
period above the worst-case stop, the pinned image."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import jsonschema
import pytest
import yaml

from cqrs_worker._version import __version__
from tests.consumers.manifests import ROOT, worst_case_stop

SCHEMA = ROOT / "tests" / "consumers" / "schemas" / "compose-spec.json"


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    return loaded


def _validator() -> jsonschema.Draft201909Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft201909Validator.check_schema(schema)
    return jsonschema.Draft201909Validator(schema)


def _ours() -> dict[str, dict[str, Any]]:
    """The services built from consumers/Dockerfile."""
    return {
        name: service
        for name, service in _compose()["services"].items()
        if str(service.get("image", "")).startswith("cqrs-worker-consumers")
    }


def _seconds(duration: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert "".join(n + u for n, u in parts) == duration, duration
    return sum(float(n) * units[u] for n, u in parts)


def test_compose_file_matches_the_compose_spec() -> None:
    errors = [f"{list(e.path)}: {e.message}" for e in _validator().iter_errors(_compose())]
    assert errors == []


def test_the_schema_refuses_a_misspelt_key() -> None:
    broken = copy.deepcopy(_compose())
    broken["services"]["meetings-worker"]["stop_grace_periods"] = "75s"
    assert list(_validator().iter_errors(broken))


def test_every_consumer_service_is_there() -> None:
    assert set(_ours()) == {"schema", "meetings-worker", "meetings-relay", "notifier-worker"}


@pytest.mark.parametrize("name", sorted(_ours()))
def test_consumer_services_run_restricted_and_pinned(name: str) -> None:
    service = _ours()[name]
    assert service["image"] == f"cqrs-worker-consumers:{__version__}"
    assert re.fullmatch(r"[1-9]\d*:[1-9]\d*", service["user"])
    assert service["read_only"] is True
    assert "/tmp" in service["tmpfs"]
    assert service["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in service["security_opt"]


@pytest.mark.parametrize("name", sorted(set(_ours()) - {"schema"}))
def test_stop_grace_period_exceeds_the_worst_case_stop(name: str) -> None:
    service = _ours()[name]
    env = {key: str(value) for key, value in service["environment"].items()}
    worst = worst_case_stop(service["command"], env)
    assert _seconds(service["stop_grace_period"]) > worst, (name, worst)


def test_the_relay_is_health_checked_on_its_own_port() -> None:
    relay = _ours()["meetings-relay"]
    port = relay["environment"]["CQRS_WORKER_RELAY_HEALTH_PORT"]
    assert relay["healthcheck"]["test"][:5] == ["CMD", "cqrs-worker", "check", "--port", port]

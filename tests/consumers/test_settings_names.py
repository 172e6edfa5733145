"""Every CQRS_WORKER_* variable the deploy files set is a setting of the process it
reaches: a misspelt name would be ignored (or only warned about) and the default
would run instead."""

from __future__ import annotations

import re
from typing import Any

import yaml

from cqrs_worker.outbox.settings import RelaySettings
from cqrs_worker.worker.settings import WorkerSettings
from tests.consumers.manifests import ROOT, containers, manifests, pod_spec, workloads

PREFIX = "CQRS_WORKER_"


def _known(variable: str) -> bool:
    name = variable.removeprefix(PREFIX).removesuffix("_FILE")
    if name.startswith("RELAY_"):
        return name.removeprefix("RELAY_").lower() in RelaySettings.model_fields
    return name.lower() in WorkerSettings.model_fields


def _variables() -> dict[str, str]:
    """Variable -> where it is set, in the manifests, compose.yaml and the Dockerfile."""
    found: dict[str, str] = {}
    for manifest in manifests():
        if manifest.kind == "ConfigMap":
            found.update(dict.fromkeys(manifest.doc["data"], str(manifest)))
    for workload in workloads():
        for container in containers(pod_spec(workload.doc)):
            for var in container.get("env") or ():
                found[var["name"]] = str(workload)
    compose: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    for name, service in compose["services"].items():
        for variable in service.get("environment") or {}:
            found[variable] = f"compose.yaml: {name}"
    dockerfile = (ROOT / "consumers" / "Dockerfile").read_text(encoding="utf-8")
    for variable in re.findall(r"\b(CQRS_WORKER_\w+)=", dockerfile):
        found[variable] = "consumers/Dockerfile"
    return {name: where for name, where in found.items() if name.startswith(PREFIX)}


def test_every_variable_is_a_setting() -> None:
    variables = _variables()
    assert len(variables) > 10
    unknown = {name: where for name, where in variables.items() if not _known(name)}
    assert unknown == {}


def test_a_misspelt_variable_is_caught() -> None:
    assert _known("CQRS_WORKER_SHUTDOWN_TIMEOUT")
    assert _known("CQRS_WORKER_RELAY_BATCH_SIZE")
    assert not _known("CQRS_WORKER_SHUTDOWN_TIMEOUT_SECONDS")
    assert not _known("CQRS_WORKER_RELAY_SHUTDOWN_TIMEOUT")

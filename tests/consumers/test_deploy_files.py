"""The deployment files name processes that exist: every ``module:attr`` target
in compose.yaml, the k8s manifests and the Dockerfile imports and is callable,
and every worker drains within its termination grace period."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.consumers.manifests import LONG_RUNNING, environment, pod_spec, workloads

ROOT = Path(__file__).resolve().parents[2]
TARGET = re.compile(r"^consumers(\.\w+)+:\w+$")


def _targets(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if TARGET.match(value) else []
    if isinstance(value, dict):
        return [t for v in value.values() for t in _targets(v)]
    if isinstance(value, list):
        return [t for v in value for t in _targets(v)]
    return []


def _documents() -> list[tuple[str, Any]]:
    files = [ROOT / "compose.yaml", *sorted((ROOT / "consumers" / "k8s").glob("*.yaml"))]
    return [(f.name, doc) for f in files for doc in yaml.safe_load_all(f.read_text())]


def _dockerfile_targets() -> list[str]:
    text = (ROOT / "consumers" / "Dockerfile").read_text()
    return re.findall(r'"(consumers(?:\.\w+)+:\w+)"', text)


def test_every_file_names_at_least_one_process() -> None:
    names = {name for name, doc in _documents() if _targets(doc)}
    assert names >= {"compose.yaml", "workers.yaml", "relay.yaml"}
    assert _dockerfile_targets()


@pytest.mark.parametrize(
    "target",
    sorted({t for _, doc in _documents() for t in _targets(doc)} | set(_dockerfile_targets())),
)
def test_target_imports_and_is_callable(target: str) -> None:
    module, attr = target.split(":")
    assert callable(getattr(importlib.import_module(module), attr))


def test_worker_grace_period_covers_the_shutdown_timeout() -> None:
    # The full worst-case stop (drain + commit + close) is checked in test_k8s_manifests.py.
    workers = [
        w for w in workloads(LONG_RUNNING) if pod_spec(w.doc)["containers"][0]["args"][0] == "run"
    ]
    assert {w.kind for w in workers} == {"StatefulSet", "Deployment"}
    for worker in workers:
        spec = pod_spec(worker.doc)
        shutdown = float(
            environment(worker.doc, spec["containers"][0])["CQRS_WORKER_SHUTDOWN_TIMEOUT"]
        )
        assert spec["terminationGracePeriodSeconds"] > shutdown, worker.name

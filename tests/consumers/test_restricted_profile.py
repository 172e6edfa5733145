"""Every pod of consumers/k8s/ is admitted under the restricted Pod Security Standard,
and the check that says so refuses a pod missing any one of the fields."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from tests.consumers.manifests import (
    Manifest,
    containers,
    pod_spec,
    restricted_violations,
    workloads,
)


@pytest.mark.parametrize("workload", workloads(), ids=str)
def test_every_pod_is_admitted_by_the_restricted_profile(workload: Manifest) -> None:
    assert restricted_violations(pod_spec(workload.doc)) == []


def test_every_kind_of_workload_is_checked() -> None:
    assert {w.kind for w in workloads()} >= {"StatefulSet", "Deployment", "Job"}


def _pod(spec: dict[str, Any]) -> dict[str, Any]:
    context: dict[str, Any] = spec["securityContext"]
    return context


def _container(spec: dict[str, Any]) -> dict[str, Any]:
    context: dict[str, Any] = next(containers(spec))["securityContext"]
    return context


# One change each, from the real meetings worker; each must be refused.
BREAKS: dict[str, Callable[[dict[str, Any]], object]] = {
    "runAsNonRoot missing": lambda s: _pod(s).pop("runAsNonRoot"),
    "runAsNonRoot false in the container": lambda s: _container(s).update(runAsNonRoot=False),
    "runAsUser missing (the image's user is not checked)": lambda s: _pod(s).pop("runAsUser"),
    "runAsUser 0": lambda s: _container(s).update(runAsUser=0),
    "runAsGroup missing": lambda s: _pod(s).pop("runAsGroup"),
    "seccompProfile missing": lambda s: _pod(s).pop("seccompProfile"),
    "seccompProfile Unconfined": lambda s: _pod(s).update(seccompProfile={"type": "Unconfined"}),
    "allowPrivilegeEscalation missing": lambda s: _container(s).pop("allowPrivilegeEscalation"),
    "capabilities not dropped": lambda s: _container(s).pop("capabilities"),
    "a capability added": lambda s: _container(s).update(
        capabilities={"drop": ["ALL"], "add": ["SYS_ADMIN"]}
    ),
    "readOnlyRootFilesystem missing": lambda s: _container(s).pop("readOnlyRootFilesystem"),
    "privileged": lambda s: _container(s).update(privileged=True),
    "hostNetwork": lambda s: s.update(hostNetwork=True),
    "hostPath volume": lambda s: s["volumes"].append({"name": "h", "hostPath": {"path": "/"}}),
    "an init container without a securityContext": lambda s: s.update(
        initContainers=[{"name": "init", "image": "busybox:1.36"}]
    ),
}


@pytest.mark.parametrize("change", sorted(BREAKS))
def test_a_pod_missing_a_restricted_field_is_refused(change: str) -> None:
    worker = next(w for w in workloads() if w.name == "meetings-worker")
    spec = copy.deepcopy(pod_spec(worker.doc))
    assert restricted_violations(spec) == []
    BREAKS[change](spec)
    assert restricted_violations(spec), change

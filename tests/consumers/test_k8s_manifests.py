"""consumers/k8s/ as a cluster would take it: valid objects (strict schemas, offline),
disruption budgets, probes, grace periods, Secrets, pinned images, static membership."""

from __future__ import annotations

import copy
import re
import socket
from typing import Any

import kubernetes_validate
import pytest

from cqrs_worker._version import __version__
from tests.consumers.manifests import (
    LONG_RUNNING,
    ROOT,
    Manifest,
    containers,
    environment,
    manifests,
    pod_spec,
    pod_template,
    workloads,
    worst_case_stop,
)

IMAGE = f"cqrs-worker-consumers:{__version__}"
# The oldest Kubernetes the files are meant for, and the newest the bundled schemas know.
VERSIONS = ("1.29", kubernetes_validate.latest_version())
SECRET_MOUNT = re.compile(r"^/var/run/secrets/")
CREDENTIAL_IN_URL = re.compile(r"://[^/@\s]*:[^/@\s]*@")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|CREDENTIAL|_KEY$|DATABASE_URL$|AMQP$|_URL$")


def _long_running() -> list[Manifest]:
    return workloads(LONG_RUNNING)


# -- schemas ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("manifest", manifests(), ids=str)
def test_manifest_is_valid_under_the_strict_schema(manifest: Manifest, version: str) -> None:
    # validate() raises SchemaNotFoundError for a kind it has no schema for (the
    # command line only warns about those).
    kubernetes_validate.validate(manifest.doc, version, strict=True)


def test_strict_validation_refuses_an_unknown_field_without_the_network(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("kubernetes-validate tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    worker = copy.deepcopy(next(m.doc for m in workloads() if m.name == "meetings-worker"))
    kubernetes_validate.validate(worker, VERSIONS[-1], strict=True)
    worker["spec"]["template"]["spec"]["terminationGracePeriod"] = 75  # misspelt
    with pytest.raises(kubernetes_validate.ValidationError, match="terminationGracePeriod"):
        kubernetes_validate.validate(worker, VERSIONS[-1], strict=True)


# -- disruption budgets and probes -----------------------------------------------------------------


def _selects(pdb: Manifest, workload: Manifest) -> bool:
    wanted = pdb.doc["spec"]["selector"]["matchLabels"].items()
    labels = pod_template(workload.doc)["metadata"]["labels"]
    return all(labels.get(key) == value for key, value in wanted)


@pytest.mark.parametrize("workload", _long_running(), ids=str)
def test_each_workload_has_one_disruption_budget_that_allows_a_drain(workload: Manifest) -> None:
    budgets = [m for m in manifests() if m.kind == "PodDisruptionBudget" and _selects(m, workload)]
    assert len(budgets) == 1, [str(b) for b in budgets]
    spec = budgets[0].doc["spec"]
    replicas = workload.doc["spec"].get("replicas", 1)
    assert replicas >= 2, "one replica cannot survive a voluntary disruption"
    # A budget that never allows an eviction blocks every node drain.
    if "maxUnavailable" in spec:
        assert spec["maxUnavailable"] >= 1
    else:
        assert spec["minAvailable"] < replicas
    assert spec.get("unhealthyPodEvictionPolicy") == "AlwaysAllow"


def test_every_disruption_budget_selects_exactly_one_workload() -> None:
    for pdb in (m for m in manifests() if m.kind == "PodDisruptionBudget"):
        selected = [w for w in workloads() if _selects(pdb, w)]
        assert len(selected) == 1, (str(pdb), [str(w) for w in selected])
        assert selected[0].name == pdb.name


def _health_port(args: list[str], env: dict[str, str]) -> int:
    if args[0] == "relay":
        return int(env.get("CQRS_WORKER_RELAY_HEALTH_PORT", "8081"))
    return int(env.get("CQRS_WORKER_HEALTH_PORT", "8080"))


@pytest.mark.parametrize("workload", _long_running(), ids=str)
def test_every_long_running_container_has_startup_liveness_and_readiness_probes(
    workload: Manifest,
) -> None:
    for container in containers(pod_spec(workload.doc)):
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        served = _health_port(container["args"], environment(workload.doc, container))
        for probe, path in (
            ("startupProbe", "/livez"),
            ("livenessProbe", "/livez"),
            ("readinessProbe", "/readyz"),
        ):
            get = container[probe]["httpGet"]
            assert get["path"] == path, (container["name"], probe)
            assert ports.get(get["port"], get["port"]) == served, (container["name"], probe)


# -- stopping --------------------------------------------------------------------------------------


@pytest.mark.parametrize("workload", _long_running(), ids=str)
def test_grace_period_exceeds_the_worst_case_stop(workload: Manifest) -> None:
    spec = pod_spec(workload.doc)
    (container,) = spec["containers"]
    worst = worst_case_stop(container["args"], environment(workload.doc, container))
    assert spec["terminationGracePeriodSeconds"] > worst, (str(workload), worst)


# -- credentials -----------------------------------------------------------------------------------


def test_no_secret_objects_and_no_credentials_in_config_maps() -> None:
    # A Secret in these files would be applied over the real one with placeholder values.
    assert not [str(m) for m in manifests() if m.kind == "Secret"]
    for config in (m for m in manifests() if m.kind == "ConfigMap"):
        for key, value in (config.doc.get("data") or {}).items():
            assert not SECRET_NAME.search(key), f"{config}: {key} belongs in a Secret"
            assert not CREDENTIAL_IN_URL.search(str(value)), f"{config}: {key} holds a password"


@pytest.mark.parametrize("workload", workloads(), ids=str)
def test_credentials_come_from_mounted_secret_files(workload: Manifest) -> None:
    spec = pod_spec(workload.doc)
    secret_files = {
        f"{mount['mountPath']}/{item['path']}"
        for container in containers(spec)
        for mount in container.get("volumeMounts") or ()
        for volume in spec["volumes"]
        if volume["name"] == mount["name"] and "secret" in volume
        for item in volume["secret"]["items"]
    }
    for container in containers(spec):
        for var in container.get("env") or ():
            name, value = var["name"], var.get("value")
            assert not CREDENTIAL_IN_URL.search(str(value)), f"{name} holds a password"
            if name.endswith("_FILE"):
                assert value in secret_files, f"{workload}: {name}={value} is not a mounted key"
            elif value is not None:
                assert not SECRET_NAME.search(name), f"{workload}: {name} should be {name}_FILE"
        for mount in container.get("volumeMounts") or ():
            if SECRET_MOUNT.match(mount["mountPath"]):
                assert mount.get("readOnly") is True


def test_the_readme_says_how_to_create_every_secret_key_the_pods_mount() -> None:
    readme = (ROOT / "consumers" / "README.md").read_text(encoding="utf-8")
    keys = {
        (volume["secret"]["secretName"], item["key"])
        for workload in workloads()
        for volume in pod_spec(workload.doc)["volumes"]
        if "secret" in volume
        for item in volume["secret"]["items"]
    }
    assert keys
    for secret, key in keys:
        command = re.search(rf"kubectl create secret generic {secret}\b[^`]*", readme)
        assert command, f"README: no `kubectl create secret generic {secret}`"
        assert f"--from-file={key}=" in command.group(0), f"README: {secret} lacks {key}"


# -- images and membership -------------------------------------------------------------------------


@pytest.mark.parametrize("workload", workloads(), ids=str)
def test_images_are_pinned_to_the_package_version(workload: Manifest) -> None:
    for container in containers(pod_spec(workload.doc)):
        assert container["image"] == IMAGE, (container["name"], container["image"])
        assert container.get("imagePullPolicy") in (None, "IfNotPresent")


@pytest.mark.parametrize("workload", workloads(), ids=str)
def test_static_membership_runs_in_a_statefulset_keyed_on_the_pod_name(
    workload: Manifest,
) -> None:
    for container in containers(pod_spec(workload.doc)):
        env: dict[str, Any] = {var["name"]: var for var in container.get("env") or ()}
        static = "CQRS_WORKER_INSTANCE_ID" in env or (
            env.get("CQRS_WORKER_STATIC_MEMBERSHIP", {}).get("value") == "true"
        )
        if not static:
            continue
        assert workload.kind == "StatefulSet", f"{workload}: pod names change on every rollout"
        source = env.get("CQRS_WORKER_INSTANCE_ID") or env["POD_NAME"]
        assert source["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


def test_the_kafka_worker_uses_static_membership() -> None:
    (worker,) = [m for m in workloads() if m.name == "meetings-worker"]
    assert worker.kind == "StatefulSet"
    assert worker.doc["spec"]["serviceName"] in {
        m.name for m in manifests() if m.kind == "Service" and m.doc["spec"]["clusterIP"] == "None"
    }
    env = {var["name"] for c in containers(pod_spec(worker.doc)) for var in c["env"]}
    assert "CQRS_WORKER_INSTANCE_ID" in env

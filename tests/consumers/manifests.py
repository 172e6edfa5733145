"""Reading the deploy files of consumers/, and the restricted Pod Security Standard as a check.

:func:`restricted_violations` encodes the fields the ``restricted`` profile of
the Kubernetes Pod Security Standards requires of a pod (and what the
``baseline`` profile it includes forbids), plus the two this project adds:
a numeric non-root ``runAsUser``/``runAsGroup`` and a read-only root
filesystem. It returns what is wrong, so a test can show that a manifest
missing any one field is refused.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "consumers" / "k8s"

#: Kinds that run pods, and where their pod template is.
POD_TEMPLATE = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}
#: Workloads that keep running (probes, disruption budgets); a Job runs to completion.
LONG_RUNNING = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"}

# Volume types the baseline profile allows (hostPath and the in-tree drivers are not).
_VOLUME_TYPES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
_SECCOMP = {"RuntimeDefault", "Localhost"}


@dataclass(frozen=True)
class Manifest:
    file: str
    doc: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.doc.get("kind", ""))

    @property
    def name(self) -> str:
        return str(self.doc["metadata"]["name"])

    def __str__(self) -> str:
        return f"{self.file}: {self.kind}/{self.name}"


def manifests() -> list[Manifest]:
    """Every object of every consumers/k8s/*.yaml, in file order."""
    return [
        Manifest(path.name, doc)
        for path in sorted(K8S.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8"))
        if doc
    ]


def workloads(kinds: frozenset[str] | set[str] = frozenset(POD_TEMPLATE)) -> list[Manifest]:
    return [m for m in manifests() if m.kind in kinds]


def pod_template(doc: Mapping[str, Any]) -> dict[str, Any]:
    node: Any = doc
    for key in POD_TEMPLATE[str(doc["kind"])]:
        node = node[key]
    return dict(node)


def pod_spec(doc: Mapping[str, Any]) -> dict[str, Any]:
    return dict(pod_template(doc)["spec"])


def containers(spec: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every container of a pod spec: init, regular and ephemeral."""
    for key in ("initContainers", "containers", "ephemeralContainers"):
        yield from spec.get(key) or ()


def environment(doc: Mapping[str, Any], container: Mapping[str, Any]) -> dict[str, str]:
    """A container's literal environment: its ConfigMaps (envFrom), then ``env``."""
    config_maps = {m.name: m.doc.get("data") or {} for m in manifests() if m.kind == "ConfigMap"}
    values: dict[str, str] = {}
    for source in container.get("envFrom") or ():
        if "configMapRef" in source:
            values.update(config_maps[source["configMapRef"]["name"]])
    for var in container.get("env") or ():
        if "value" in var:
            values[var["name"]] = str(var["value"])
    return values


def restricted_violations(spec: Mapping[str, Any]) -> list[str]:
    """What keeps a pod spec out of the restricted profile (empty: it is admitted)."""
    problems: list[str] = []
    pod = spec.get("securityContext") or {}
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key):
            problems.append(f"spec.{key} is set")
    for volume in spec.get("volumes") or ():
        kinds = set(volume) - {"name"}
        if not kinds <= _VOLUME_TYPES:
            problems.append(f"volume {volume['name']!r} is of type {sorted(kinds - _VOLUME_TYPES)}")
    if pod.get("runAsUser") == 0:
        problems.append("securityContext.runAsUser is 0 (root)")
    if pod.get("sysctls"):
        problems.append("securityContext.sysctls is set")
    for container in containers(spec):
        name = container.get("name", "?")
        context = container.get("securityContext") or {}

        def effective(key: str, context: Mapping[str, Any] = context) -> Any:
            return context[key] if key in context else pod.get(key)

        if effective("runAsNonRoot") is not True:
            problems.append(f"container {name!r}: runAsNonRoot is not true")
        if context.get("runAsUser") == 0:
            problems.append(f"container {name!r}: runAsUser is 0 (root)")
        for key in ("runAsUser", "runAsGroup"):
            value = effective(key)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                problems.append(f"container {name!r}: {key} is not a numeric non-root id")
        seccomp = (effective("seccompProfile") or {}).get("type")
        if seccomp not in _SECCOMP:
            problems.append(f"container {name!r}: seccompProfile.type is {seccomp!r}")
        if context.get("allowPrivilegeEscalation") is not False:
            problems.append(f"container {name!r}: allowPrivilegeEscalation is not false")
        if context.get("privileged"):
            problems.append(f"container {name!r}: privileged")
        capabilities = context.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or ()):
            problems.append(f"container {name!r}: capabilities.drop does not include ALL")
        added = set(capabilities.get("add") or ()) - {"NET_BIND_SERVICE"}
        if added:
            problems.append(f"container {name!r}: capabilities.add {sorted(added)}")
        if context.get("readOnlyRootFilesystem") is not True:
            problems.append(f"container {name!r}: readOnlyRootFilesystem is not true")
        if context.get("procMount") not in (None, "Default"):
            problems.append(f"container {name!r}: procMount {context['procMount']!r}")
        for port in container.get("ports") or ():
            if port.get("hostPort"):
                problems.append(f"container {name!r}: hostPort {port['hostPort']}")
    return problems


# -- the worst-case stop, as the grace periods must cover it ---------------------------------------
#
# Seconds a stop takes beyond the drain, step by step; the comments above each
# terminationGracePeriodSeconds in consumers/k8s/ add up the same steps.
#: KafkaSource.stop (cqrs_worker/worker/kafka/source.py): the fetch loop's last round
#: (fetch_timeout 0.5 + commit_timeout 10), the final commit (commit_timeout 10), the
#: consumer close (_CLOSE_TIMEOUT 10), the dead-letter producer close (unbounded in the
#: code, budgeted 5).
KAFKA_AFTER_DRAIN = 0.5 + 10 + 10 + 10 + 5
#: RabbitSource.stop (cqrs_worker/worker/rabbitmq/): per queue basic.cancel, last acks and
#: channel close (5 each, one queue after another), then the dead-letter channel (5) and
#: the connection (5).
RABBITMQ_PER_QUEUE = 5 + 5 + 5
RABBITMQ_AFTER_DRAIN = 5 + 5
#: The relay (cqrs_worker/outbox/relay.py) finishes the batches in hand: publish
#: (AMQPMessageBroker publish_timeout 30), mark and commit (budgeted 10), close (5).
RELAY_STOP = 30 + 10 + 5
#: WorkerSettings.shutdown_timeout's default.
DEFAULT_SHUTDOWN_TIMEOUT = 30.0


def worst_case_stop(command: list[str], env: Mapping[str, str]) -> float:
    """Seconds the ``cqrs-worker`` ``command`` may take to stop after SIGTERM with ``env``."""
    if command[0] == "relay":
        return RELAY_STOP
    if command[0] != "run":
        raise ValueError(f"no stop budget for {command!r}")
    drain = float(env.get("CQRS_WORKER_SHUTDOWN_TIMEOUT", DEFAULT_SHUTDOWN_TIMEOUT))
    stops = []  # the sources stop at the same time
    if "CQRS_WORKER_KAFKA_BOOTSTRAP" in env:
        stops.append(drain + KAFKA_AFTER_DRAIN)
    if {"CQRS_WORKER_RABBITMQ_URL", "CQRS_WORKER_RABBITMQ_URL_FILE"} & set(env):
        names = env.get("CQRS_WORKER_QUEUES") or env.get("CQRS_WORKER_TOPICS") or "one"
        queues = len([name for name in names.split(",") if name.strip()])
        stops.append(drain + queues * RABBITMQ_PER_QUEUE + RABBITMQ_AFTER_DRAIN)
    if not stops:
        raise ValueError(f"{command!r} names no broker in its environment")
    return max(stops)

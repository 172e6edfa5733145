"""``child_argv``: every child runs the same command, told apart by id, instance id and port."""

from __future__ import annotations

import sys

from cqrs_worker.process import ChildPlan, child_argv


def _plan(**changes: object) -> ChildPlan:
    values: dict[str, object] = {
        "target": "app:build",
        "factory": True,
        "flags": {"topics": ("a", "b"), "kafka_idempotence": False, "concurrency": "8"},
        "worker_id": None,
        "instance_id": None,
        "health_port": 8080,
        **changes,
    }
    return ChildPlan(**values)  # type: ignore[arg-type]  # the test builds it from a dict


def test_children_share_the_flags_and_get_their_own_health_port() -> None:
    argv = child_argv(_plan(), 2)
    assert argv[:6] == [sys.executable, "-m", "cqrs_worker.cli", "run", "app:build", "--factory"]
    rest = argv[6:]
    assert rest == [
        "--topics",
        "a,b",
        "--no-kafka-idempotence",
        "--concurrency",
        "8",
        "--health-port",
        "8083",
    ]
    assert "--worker-id" not in rest  # each child's default <host>-<pid> differs already
    assert "--workers" not in rest


def test_ids_get_the_child_number() -> None:
    argv = child_argv(_plan(worker_id="w", instance_id="pod-7", health_port=0, factory=False), 1)
    assert "--factory" not in argv
    assert argv[argv.index("--worker-id") + 1] == "w-1"
    assert argv[argv.index("--instance-id") + 1] == "pod-7-1"
    assert "--health-port" not in argv  # 0: every child keeps the server off

"""``cqrs-worker run``: precise start-up errors, flags over variables, signals and exit codes.

Real subprocesses; the workers in :mod:`tests.unit.cli.sample_app` consume an
in-memory source, so no broker is needed (except the one refused connection).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.net import free_port
from tests.support.processes import ProcessSet

ROOT = Path(__file__).resolve().parents[3]
APP = "tests.unit.cli.sample_app"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CQRS_WORKER_")}
    env.update({"CQRS_WORKER_HEALTH_PORT": "0", **extra})
    return env


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cqrs_worker.cli", "run", *args],
        cwd=ROOT,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope.missing:mediator"], "module 'nope.missing' not found (No module named 'nope')"),
        ([f"{APP}:nothing_here"], f"'{APP}' has no attribute 'nothing_here' (it has: "),
        ([f"{APP}:journal.nope"], f"'{APP}.journal' has no attribute 'nope'"),
        ([f"{APP}:not_a_mediator"], "is a dict, not an EventMediator or Worker"),
        (
            [f"{APP}:build_worker"],
            "not an EventMediator or Worker; pass --factory if it builds one",
        ),
        ([f"{APP}:not_a_mediator", "--factory"], "is a dict, not callable; drop --factory"),
        ([f"{APP}:build_nothing", "--factory"], "build_nothing() returned a NoneType"),
        (["no_colon_here"], "expected MODULE:ATTR"),
        (
            ["tests.unit.worker.sample:mediator", "--factory"],
            "no broker to consume from: set CQRS_WORKER_KAFKA_BOOTSTRAP (--kafka-bootstrap",
        ),
        (
            ["tests.unit.worker.sample:mediator", "--factory", "--kafka-bootstrap", "k:9092"],
            "Kafka needs a consumer group: set CQRS_WORKER_GROUP_ID (or --group-id)",
        ),
        (
            [f"{APP}:worker", "--concurrency", "0"],
            "CQRS_WORKER_CONCURRENCY (--concurrency): Input should be greater than or equal to 1",
        ),
    ],
)
def test_start_up_errors_exit_2_saying_what_to_fix(args: list[str], message: str) -> None:
    result = run(*args)

    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_variable_is_named() -> None:
    result = run(f"{APP}:worker", CQRS_WORKER_SHUTDOWN_TIMEOUT="soon")

    assert result.returncode == 2
    assert "CQRS_WORKER_SHUTDOWN_TIMEOUT (--shutdown-timeout): Input should be a valid number" in (
        result.stderr
    )


def test_an_unreachable_broker_fails_naming_its_address() -> None:
    address = f"127.0.0.1:{free_port()}"

    result = run(
        "tests.unit.worker.sample:mediator",
        "--factory",
        "--group-id",
        "g",
        CQRS_WORKER_KAFKA_BOOTSTRAP=address,
    )

    assert result.returncode != 0
    assert address in result.stderr.splitlines()[-1]


@pytest.mark.parametrize("target", [f"{APP}:worker", f"{APP}:build_worker_async --factory"])
def test_sigterm_finishes_the_work_and_exits_0(processes: ProcessSet, target: str) -> None:
    worker = processes.start_python(
        ["-m", "cqrs_worker.cli", "run", *target.split()],
        name="worker",
        env=clean_env(SAMPLE_PUBLISH="5"),
    )
    worker.wait_for_line(r"worker \S+ running: sources memory, topics orders, shipments")
    worker.wait_for_line("handled order 4")

    worker.terminate()

    assert worker.wait(15) == 0
    output = worker.output()
    assert "SIGTERM received: stopping gracefully" in output
    assert "worker stopped; stats: received=5, handled=5" in output


def test_a_second_signal_exits_at_once(processes: ProcessSet) -> None:
    worker = processes.start_python(
        ["-m", "cqrs_worker.cli", "run", f"{APP}:worker"],
        name="worker",
        env=clean_env(SAMPLE_SLOW_STOP="1", SAMPLE_STOP_SECONDS="60"),
    )
    worker.wait_for_line("running: sources memory")
    worker.send_signal(signal.SIGINT)
    worker.wait_for_line("stopping slowly")
    started = time.monotonic()

    worker.send_signal(signal.SIGINT)

    assert worker.wait(10) == 128 + signal.SIGINT
    assert time.monotonic() - started < 5
    assert "second SIGINT: exiting now" in worker.output()


def test_flags_win_over_variables_and_json_logs(processes: ProcessSet) -> None:
    worker = processes.start_python(
        [
            "-m",
            "cqrs_worker.cli",
            "run",
            f"{APP}:worker",
            "--concurrency",
            "3",
            "--log-format",
            "json",
            "--worker-id",
            "flagged",
        ],
        name="worker",
        env=clean_env(CQRS_WORKER_CONCURRENCY="9", CQRS_WORKER_LOG_FORMAT="text"),
    )
    line = worker.wait_for_line(r"^\{.*running: sources memory")

    entry = json.loads(line.string)
    assert entry["level"] == "INFO"
    assert entry["logger"] == "cqrs_worker.worker.app"
    assert entry["message"].startswith("worker flagged running")
    assert entry["message"].endswith("concurrency 3")
    worker.terminate()
    assert worker.wait(15) == 0

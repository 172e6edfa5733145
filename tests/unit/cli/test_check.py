"""``cqrs-worker check``: an exec probe against a running worker's health server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.net import free_port
from tests.support.processes import ProcessSet
from tests.unit.cli.test_run import APP, clean_env

ROOT = Path(__file__).resolve().parents[3]


def check(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cqrs_worker.cli", "check", *args],
        cwd=ROOT,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_running_worker_is_ready_and_live(processes: ProcessSet) -> None:
    port = free_port()
    worker = processes.start_python(
        [
            "-m",
            "cqrs_worker.cli",
            "run",
            f"{APP}:worker",
            "--health-port",
            str(port),
            "--health-host",
            "127.0.0.1",
        ],
        name="worker",
        env=clean_env(),
    )
    worker.wait_for_line("running: sources memory")

    ready = check("--port", str(port))
    live = check("--live", CQRS_WORKER_HEALTH_PORT=str(port))

    assert (ready.returncode, ready.stdout) == (0, f"http://127.0.0.1:{port}/readyz: ok\n")
    assert (live.returncode, live.stdout) == (0, f"http://127.0.0.1:{port}/livez: ok\n")
    worker.terminate()
    assert worker.wait(15) == 0


def test_nothing_listening_exits_1_naming_the_url() -> None:
    port = free_port()

    result = check("--port", str(port), "--timeout", "2")

    assert result.returncode == 1
    assert f"http://127.0.0.1:{port}/readyz did not answer" in result.stderr


def test_a_health_port_of_0_means_there_is_nothing_to_ask() -> None:
    result = check(CQRS_WORKER_HEALTH_PORT="0")

    assert result.returncode == 2
    assert result.stderr == (
        "cqrs-worker check: CQRS_WORKER_HEALTH_PORT: '0' is not a health port (1-65535); "
        "pass --port with the port the worker's or relay's health server listens on\n"
    )

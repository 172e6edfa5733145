"""The ./dev script's service and pytest handling, checked with stand-ins (no real service)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.processes import REPO_ROOT

DEV = REPO_ROOT / "dev"


def _bash(script: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", f"source {DEV}\nset +e\n{script}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_a_down_service_is_started_and_waited_for(tmp_path: Path) -> None:
    flag = tmp_path / "up"
    result = _bash(
        f"""
        unset CQRS_WORKER_TEST_FAKE
        check() {{ [[ -f {flag} ]]; }}
        start() {{ echo started; ( sleep 0.3; touch {flag} ) & }}
        ensure_service Fake CQRS_WORKER_TEST_FAKE check start 10
        echo "exit=$?"
        """,
        tmp_path,
    )
    assert "Fake: down, starting it" in result.stdout, result
    assert "Fake: up" in result.stdout, result
    assert "exit=0" in result.stdout, result


def test_a_service_that_never_answers_fails_within_the_deadline(tmp_path: Path) -> None:
    result = _bash(
        """
        check() { false; }
        start() { true; }
        ensure_service Fake CQRS_WORKER_TEST_FAKE check start 1
        """,
        tmp_path,
    )
    assert result.returncode == 1
    assert "Fake: still not answering after 1s" in result.stderr, result


def test_a_service_given_by_its_variable_is_left_alone(tmp_path: Path) -> None:
    result = _bash(
        """
        export CQRS_WORKER_TEST_FAKE=amqp://elsewhere/
        check() { echo checked; false; }
        start() { echo started; }
        ensure_service Fake CQRS_WORKER_TEST_FAKE check start 1
        echo "exit=$?"
        """,
        tmp_path,
    )
    assert "is set, using it as given" in result.stdout, result
    assert "checked" not in result.stdout
    assert "started" not in result.stdout
    assert "exit=0" in result.stdout


def test_pytest_collecting_nothing_is_a_failed_step(tmp_path: Path) -> None:
    fake = tmp_path / "venv" / "bin" / "pytest"
    fake.parent.mkdir(parents=True)
    fake.write_text('#!/bin/sh\necho "no tests ran"\nexit "$1"\n')
    fake.chmod(0o755)
    result = _bash(
        f"""
        VENV={tmp_path / "venv"}
        step "pytest 0" run_pytest 0
        step "pytest 5" run_pytest 5
        echo "failed=${{FAILED[*]}}"
        """,
        tmp_path,
    )
    assert "collected no tests: that counts as a failure" in result.stdout, result
    assert "failed=pytest 5" in result.stdout, result

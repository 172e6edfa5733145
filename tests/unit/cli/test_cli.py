"""The ``cqrs-worker`` command line: version, help, and the entry point."""

from __future__ import annotations

import importlib
import subprocess
import sys
import tomllib
from pathlib import Path

from cqrs_worker import __version__
from cqrs_worker.cli import main

ROOT = Path(__file__).resolve().parents[3]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cqrs_worker.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_version() -> None:
    result = run_cli("--version")

    assert result.returncode == 0, result.stderr
    assert result.stdout == f"cqrs-worker {__version__}\n"


def test_help() -> None:
    result = run_cli("--help")

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: cqrs-worker")
    assert "--version" in result.stdout
    assert result.stderr == ""


def test_no_command_prints_usage_and_fails() -> None:
    result = run_cli()

    assert result.returncode == 2
    assert result.stderr.startswith("usage: cqrs-worker")


def test_main_without_a_command_returns_2() -> None:
    assert main([]) == 2


def test_console_script_points_at_main() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module_name, _, attribute = scripts["cqrs-worker"].partition(":")

    assert getattr(importlib.import_module(module_name), attribute) is main


def test_help_lists_the_exit_codes_the_readme_documents() -> None:
    result = run_cli("--help")
    readme = (ROOT / "README.md").read_text()

    assert "exit codes:" in result.stdout
    for code in ("0", "1", "2", "130", "128+N"):
        assert f"\n  {code} " in result.stdout
        assert f"\n| {code} |" in readme


def test_a_usage_error_is_one_line() -> None:
    result = run_cli("relay", "app:producer", "--batch-size", "many")

    assert result.returncode == 2
    assert result.stderr == (
        "cqrs-worker relay: argument --batch-size: invalid int value: 'many' "
        "(see cqrs-worker relay --help)\n"
    )

"""consumers/Dockerfile and its build context, read statically (no Docker engine in CI):
a numeric non-root USER matching the manifests, a HEALTHCHECK, pinned bases, and a
.dockerignore that keeps the context to what the build copies."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.consumers.manifests import ROOT, pod_spec, workloads

DOCKERFILE = ROOT / "consumers" / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    lines = (line.strip() for line in text.splitlines())
    pairs = (line.split(None, 1) for line in lines if line and not line.startswith("#"))
    return [(parts[0].upper(), parts[1] if len(parts) > 1 else "") for parts in pairs]


def _final_stage() -> list[tuple[str, str]]:
    instructions = _instructions()
    start = max(i for i, (op, _) in enumerate(instructions) if op == "FROM")
    return instructions[start:]


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents wins."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        body = pattern.removeprefix("!").strip("/")
        regex = re.escape(body).replace(r"\*\*", ".*").replace(r"\*", "[^/]*")
        regex = regex.replace(r"\?", "[^/]")
        if any(re.fullmatch(regex, candidate) for candidate in candidates):
            ignored = not negated
    return ignored


def _dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _context() -> set[str]:
    """The repository's files (as git tracks them) that reach the build context."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    patterns = _dockerignore()
    return {f for f in listed.split("\0") if f and not _ignored(f, patterns)}


def test_the_image_runs_as_the_numeric_user_of_the_manifests() -> None:
    users = [args for op, args in _final_stage() if op == "USER"]
    assert users, "no USER: the image would run as root"
    match = re.fullmatch(r"(\d+):(\d+)", users[-1])
    assert match, f"USER {users[-1]!r}: Kubernetes can only verify runAsNonRoot for numeric ids"
    uid, gid = int(match[1]), int(match[2])
    assert uid > 0
    assert gid > 0
    for workload in workloads():
        context = pod_spec(workload.doc)["securityContext"]
        assert (context["runAsUser"], context["runAsGroup"]) == (uid, gid), workload.name


def test_the_image_has_a_healthcheck_that_asks_cqrs_worker() -> None:
    checks = [args for op, args in _final_stage() if op == "HEALTHCHECK"]
    assert len(checks) == 1
    assert re.search(r'CMD \["cqrs-worker", "check"', checks[0]), checks[0]
    assert "--start-period=" in checks[0]


def test_base_images_are_pinned() -> None:
    for op, args in _instructions():
        if op == "FROM":
            image = args.split()[0]
            assert ":" in image, image
            assert not image.endswith(":latest"), image


def test_the_context_holds_what_the_build_copies() -> None:
    context = _context()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    needed = {"pyproject.toml", project["project"]["readme"]}
    needed.add(project["tool"]["hatch"]["version"]["path"])
    needed |= {str(p.relative_to(ROOT)) for p in (ROOT / "cqrs_worker").rglob("*.py")} | {
        str(p.relative_to(ROOT)) for p in (ROOT / "consumers").rglob("*.py")
    }
    assert not sorted(needed - context)
    for op, args in _instructions():
        if op == "COPY" and not args.startswith("--from"):
            for source in args.split()[:-1]:
                assert any(f == source or f.startswith(f"{source}/") for f in context), source


@pytest.mark.parametrize(
    "path",
    [
        ".git/HEAD",
        ".venv/bin/python",
        "tests/conftest.py",
        "benchmarks/x.py",
        "dev",
        ".env",
        "consumers/k8s/workers.yaml",
        "cqrs_worker/__pycache__/x.cpython-311.pyc",
    ],
)
def test_the_context_leaves_out(path: str) -> None:
    assert _ignored(path, _dockerignore())


def test_no_secret_or_local_file_reaches_the_context() -> None:
    leaked = {f for f in _context() if Path(f).parts[0] not in {"cqrs_worker", "consumers"}}
    assert leaked <= {"pyproject.toml", "README.md"}

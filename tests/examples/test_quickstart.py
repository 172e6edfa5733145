"""The README's first command: `python -m examples.quickstart` runs end to end, fresh."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_quickstart_handles_20_events_and_stops_cleanly_within_30s() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CQRS_WORKER_")}
    started = time.monotonic()

    result = subprocess.run(
        [sys.executable, "-m", "examples.quickstart"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert elapsed < 30
    handled = re.findall(r"handled OrderPlaced #\s*(\d+)", result.stdout)
    assert sorted(map(int, handled)) == list(range(1, 21))
    assert "worker stopped: received=20, handled=20, retried=0, dead_lettered=0" in result.stdout
    # Per-customer order: each customer's orders were published in increasing order.
    for customer in ("ada", "grace", "linus", "barbara"):
        mine = re.findall(rf"#\s*(\d+) for {customer}\b", result.stdout)
        assert mine == sorted(mine, key=int)

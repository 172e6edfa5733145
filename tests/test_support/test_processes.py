"""Child processes: wait for output, signal, stop, and leave nothing behind."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.support.processes import ManagedProcess, ProcessExitedError, ProcessSet
from tests.support.waiting import wait_until

# A worker stand-in: prints lines, exits 0 on SIGTERM (or ignores it).
WORKER = r"""
import os, signal, sys, time
mode = sys.argv[1]
def on_term(signum, frame):
    print("got SIGTERM, draining", flush=True)
    print("bye", flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, signal.SIG_IGN if mode == "stubborn" else on_term)
print(f"worker {os.getpid()} starting", flush=True)
print("ready on port 1234", flush=True)
sys.stdout.write("partial line without newline")
sys.stdout.flush()
if mode == "crash":
    sys.exit(3)
signal.pause()
"""


def _alive(pid: int) -> bool:
    """Running or stopped; a zombie (dead, not yet reaped by its parent) is not alive."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return _proc_state(pid) != "Z"
    except FileNotFoundError:
        return False


def test_wait_for_line_and_graceful_sigterm(processes: ProcessSet) -> None:
    worker = processes.start_python(["-c", WORKER, "polite"], name="worker")
    assert worker.wait_for_line(r"starting", timeout=10).group(0) == "starting"
    match = worker.wait_for_line(r"ready on port (\d+)", timeout=10)
    assert match.group(1) == "1234"
    worker.terminate()
    assert worker.wait(timeout=10) == 0
    # Waits continue after the previous match: "draining" comes before "bye".
    worker.wait_for_line("draining", timeout=1)
    worker.wait_for_line("^bye$", timeout=1)
    assert "partial line without newline" in worker.output()


async def test_await_line_and_wait_async(processes: ProcessSet) -> None:
    worker = processes.start_python(["-c", WORKER, "polite"], name="worker")
    await worker.await_line("ready", timeout=10)
    worker.terminate()
    assert await worker.wait_async(timeout=10) == 0


def test_a_process_that_exits_early_fails_the_wait_at_once(processes: ProcessSet) -> None:
    worker = processes.start_python(["-c", WORKER, "crash"], name="crasher")
    # A last line without a newline is seen once the process has exited.
    assert worker.wait_for_line("partial line", timeout=10)
    with pytest.raises(ProcessExitedError, match=r"exited with 3") as info:
        worker.wait_for_line("never printed", timeout=30)
    assert "ready on port 1234" in str(info.value)  # the error carries the output tail


def test_wait_timeouts_carry_the_output(processes: ProcessSet) -> None:
    worker = processes.start_python(["-c", WORKER, "polite"], name="worker")
    worker.wait_for_line("ready", timeout=10)
    with pytest.raises(TimeoutError, match=r"(?s)no line matching 'nope'.*ready on port"):
        worker.wait_for_line("nope", timeout=0.2)
    with pytest.raises(TimeoutError, match="still running"):
        worker.wait(timeout=0.1)


def test_stop_escalates_to_sigkill(processes: ProcessSet) -> None:
    worker = processes.start_python(["-c", WORKER, "stubborn"], name="stubborn")
    worker.wait_for_line("ready", timeout=10)
    assert worker.stop(timeout=0.3) == -signal.SIGKILL
    assert worker.stop() == -signal.SIGKILL  # idempotent


def test_pause_and_resume(processes: ProcessSet) -> None:
    worker = processes.start_python(["-c", WORKER, "polite"], name="worker")
    worker.wait_for_line("ready", timeout=10)
    worker.pause()
    wait_until(lambda: _proc_state(worker.pid) == "T", timeout=5, message="process not stopped")
    worker.resume()
    wait_until(lambda: _proc_state(worker.pid) != "T", timeout=5, message="still stopped")
    # A paused process is resumed by stop() so that it can handle SIGTERM.
    worker.pause()
    assert worker.stop(timeout=10) == 0


def _proc_state(pid: int) -> str:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0]


def test_stop_all_leaves_no_process_behind(tmp_path: Path) -> None:
    spawner = r"""
import subprocess, sys
child = subprocess.Popen([sys.executable, "-c", "import signal; signal.pause()"])
print(f"grandchild {child.pid}", flush=True)
import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN); signal.pause()
"""
    group = ProcessSet(tmp_path, stop_timeout=0.3)
    parent = group.start_python(["-c", spawner], name="spawner")
    plain = group.start(["sleep", "60"], name="sleeper")
    grandchild = int(parent.wait_for_line(r"grandchild (\d+)", timeout=10).group(1))
    pids = [parent.pid, plain.pid, grandchild]
    assert all(_alive(pid) for pid in pids)
    group.stop_all()
    # The grandchild is killed with its process group; init reaps it.
    wait_until(lambda: not any(_alive(pid) for pid in pids), timeout=5, message=f"alive: {pids}")
    assert [p.name for p in group] == ["spawner", "sleeper"]
    assert (tmp_path / "spawner.log").exists()


def test_names_and_logs_are_unique(tmp_path: Path) -> None:
    group = ProcessSet(tmp_path)
    try:
        first = group.start(["true"], name="w")
        second = group.start(["true"], name="w")
        assert (first.name, second.name) == ("w", "w-2")
        assert first.log_path != second.log_path
    finally:
        group.stop_all()


def test_context_manager_stops(tmp_path: Path) -> None:
    with ManagedProcess(["sleep", "60"], log_path=tmp_path / "sleep.log") as process:
        pid = process.pid
        assert process.running
    assert not _alive(pid)
    assert process.returncode == -signal.SIGTERM

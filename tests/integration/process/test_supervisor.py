"""``Supervisor`` with real child processes (small Python scripts standing in for workers)."""

from __future__ import annotations

import asyncio
import signal
import sys
import textwrap
from pathlib import Path

import pytest

from cqrs_worker.process import Backoff, Supervisor
from tests.support.waiting import async_wait_until

# A child: records its starts in <out>/<n>.log; crashes (exit <crash_code>) on its
# first <crashes> starts, then runs until SIGTERM; with <stubborn>, only a second
# SIGTERM stops it (exit 143), as a worker's second signal does.
CHILD = textwrap.dedent(
    """
    import os, signal, sys, time
    out, n, crashes, crash_code, stubborn = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:])
    path = os.path.join(out, n + ".log")
    def write(line):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        os.write(fd, (line + "\\n").encode())
        os.close(fd)
    with open(path, "a"):
        pass
    starts = sum(1 for line in open(path) if line.startswith("start"))
    write("start")
    if starts < crashes:
        sys.exit(crash_code)
    got = []
    def on_term(signum, frame):
        got.append(signum)
        write("signal")
        if not stubborn or len(got) > 1:
            write("stopped")
            sys.exit(0 if len(got) == 1 else 128 + signum)
    signal.signal(signal.SIGTERM, on_term)
    write("running")
    while True:
        time.sleep(0.05)
    """
)


def _supervisor(
    out: Path, workers: int, *, crashes: int = 0, crash_code: int = 1, stubborn: bool = False
) -> Supervisor:
    def argv(n: int) -> list[str]:
        args = [str(out), str(n), str(crashes), str(crash_code), str(int(stubborn))]
        return [sys.executable, "-c", CHILD, *args]

    return Supervisor(
        workers=workers,
        argv_of=argv,
        backoff=lambda: Backoff(initial=0.05, maximum=0.2, stable_after=30.0),
    )


def _lines(out: Path, n: int) -> list[str]:
    path = out / f"{n}.log"
    return path.read_text().split() if path.exists() else []


async def test_crashed_children_are_restarted_and_all_stop_on_the_signal(tmp_path: Path) -> None:
    supervisor = _supervisor(tmp_path, 3, crashes=2)
    running = asyncio.create_task(supervisor.run())
    await async_wait_until(
        lambda: all("running" in _lines(tmp_path, n) for n in range(3)),
        timeout=60,
        message=lambda: str([_lines(tmp_path, n) for n in range(3)]),
    )
    supervisor.stop(signal.SIGTERM)

    async with asyncio.timeout(30):
        assert await running == 0
    for n in range(3):  # two crashes, a third start that ran, one graceful stop
        assert _lines(tmp_path, n) == ["start", "start", "start", "running", "signal", "stopped"]


async def test_a_second_signal_stops_the_children_at_once(tmp_path: Path) -> None:
    supervisor = _supervisor(tmp_path, 2, stubborn=True)
    running = asyncio.create_task(supervisor.run())
    await async_wait_until(
        lambda: all("running" in _lines(tmp_path, n) for n in range(2)), timeout=60
    )
    supervisor.stop(signal.SIGTERM)
    await async_wait_until(
        lambda: all("signal" in _lines(tmp_path, n) for n in range(2)), timeout=30
    )
    assert not running.done()  # a graceful stop is under way: no restarts, no exit yet
    supervisor.stop(signal.SIGTERM)

    async with asyncio.timeout(30):
        assert await running == 128 + signal.SIGTERM
    assert all(_lines(tmp_path, n)[-1] == "stopped" for n in range(2))


async def test_a_configuration_error_at_start_up_ends_the_command_with_exit_2(
    tmp_path: Path,
) -> None:
    supervisor = _supervisor(tmp_path, 2, crashes=1_000, crash_code=2)

    async with asyncio.timeout(30):
        assert await supervisor.run() == 2
    # Not restarted: exit 2 at the first start is a configuration error (the second
    # child may be stopped before it got as far as its first line).
    assert [_lines(tmp_path, n).count("start") for n in range(2)] in ([1, 1], [1, 0], [0, 1])


async def test_repeated_exit_2_after_a_restart_gives_up_after_the_limit(tmp_path: Path) -> None:
    # Crashes with exit 1 first (so exit 2 is not at its first start), then exit 2 forever.
    script_out = tmp_path
    crash_then_config = CHILD.replace(
        "sys.exit(crash_code)", "sys.exit(1 if starts == 0 else crash_code)"
    )
    supervisor = Supervisor(
        workers=1,
        argv_of=lambda n: [
            sys.executable,
            "-c",
            crash_then_config,
            str(script_out),
            "0",
            "99",
            "2",
            "0",
        ],
        backoff=lambda: Backoff(initial=0.01, maximum=0.02, stable_after=30.0),
        max_startup_failures=4,
    )

    async with asyncio.timeout(60):
        assert await supervisor.run() == 2
    assert _lines(tmp_path, 0).count("start") == 4


async def test_a_child_stopped_before_it_handles_signals_counts_as_a_clean_stop() -> None:
    # Still importing the app: no handlers yet, so SIGTERM ends it; it consumed nothing.
    supervisor = Supervisor(
        workers=1, argv_of=lambda n: [sys.executable, "-c", "import time; time.sleep(60)"]
    )
    running = asyncio.create_task(supervisor.run())
    await async_wait_until(lambda: supervisor.running(0), timeout=30)
    supervisor.stop(signal.SIGTERM)

    async with asyncio.timeout(30):
        assert await running == 0


# A child that logs a line, then fails as the CLI does: one error line, the given exit code
# on its first start; later starts run until SIGTERM.
TALKING_CHILD = textwrap.dedent(
    """
    import os, signal, sys, time
    marker, code = sys.argv[1], int(sys.argv[2])
    print("2026-01-01 00:00:00 INFO child: starting", file=sys.stderr)
    if not os.path.exists(marker):
        open(marker, "w").close()
        print("cqrs-worker run: fix the thing", file=sys.stderr)
        sys.exit(code)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("2026-01-01 00:00:00 INFO child: running", file=sys.stderr)
    while True:
        time.sleep(0.05)
    """
)


def _talking(tmp_path: Path, code: int) -> Supervisor:
    return Supervisor(
        workers=1,
        argv_of=lambda n: [
            sys.executable,
            "-c",
            TALKING_CHILD,
            str(tmp_path / "marker"),
            str(code),
        ],
        backoff=lambda: Backoff(initial=0.05, maximum=0.2, stable_after=30.0),
    )


async def test_a_start_up_error_line_is_the_failure_not_passed_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    supervisor = _talking(tmp_path, 2)

    async with asyncio.timeout(30):
        assert await supervisor.run() == 2

    assert supervisor.failure == "cqrs-worker run: fix the thing"
    # The child's log line went through; its error line is left to the caller, once.
    assert capsys.readouterr().err == "2026-01-01 00:00:00 INFO child: starting\n"


async def test_the_error_line_of_a_restarted_child_is_passed_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    supervisor = _talking(tmp_path, 1)
    seen: list[str] = []

    def err() -> str:
        seen.append(capsys.readouterr().err)
        return "".join(seen)

    running = asyncio.create_task(supervisor.run())
    await async_wait_until(lambda: "child: running" in err(), timeout=60)
    supervisor.stop(signal.SIGTERM)

    async with asyncio.timeout(30):
        assert await running == 0
    assert supervisor.failure is None
    # Exit 1 is no start-up error: the child's line is shown, and it is restarted.
    lines = [line.rpartition(" child: ")[2] for line in err().splitlines()]
    assert lines == ["starting", "cqrs-worker run: fix the thing", "starting", "running"]

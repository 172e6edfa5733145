"""``ChildOutput``: a child's stderr passed on line by line, its one-line error held back."""

from __future__ import annotations

import asyncio

import pytest

from cqrs_worker.process.output import ChildOutput


def _stream(*chunks: bytes) -> asyncio.StreamReader:
    stream = asyncio.StreamReader()
    for chunk in chunks:
        stream.feed_data(chunk)
    stream.feed_eof()
    return stream


async def test_log_lines_are_passed_on_and_the_error_line_is_held(
    capsys: pytest.CaptureFixture[str],
) -> None:
    announced: list[str] = []
    output = ChildOutput(
        # A line split across reads, the CLI's error line, a last line without newline.
        _stream(b"2026 INFO a: one\n2026 INF", b"O a: two\ncqrs-worker run: fix X\n", b"tail"),
        on_first_line=lambda: announced.append(capsys.readouterr().err),
    )

    await output.forward()

    assert announced == [""]  # before the first line was written
    assert capsys.readouterr().err == "2026 INFO a: one\n2026 INFO a: two\ntail\n"
    assert output.spoke
    assert output.error == "cqrs-worker run: fix X"

    output.release()
    assert capsys.readouterr().err == "cqrs-worker run: fix X\n"
    output.release()  # released once
    assert capsys.readouterr().err == ""


async def test_a_child_that_only_fails_says_nothing_but_its_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    announced: list[int] = []
    output = ChildOutput(
        _stream(b"cqrs-worker run: cannot connect\n"), on_first_line=lambda: announced.append(1)
    )

    await output.forward()

    assert capsys.readouterr().err == ""
    assert announced == []
    assert not output.spoke
    assert output.error == "cqrs-worker run: cannot connect"


async def test_a_muted_child_goes_to_the_debug_log(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    stream = asyncio.StreamReader()
    spoke = asyncio.Event()
    output = ChildOutput(stream, name="worker process 1", on_first_line=spoke.set)
    output.start()
    stream.feed_data(b"2026 INFO before\n")
    await asyncio.wait_for(spoke.wait(), timeout=10)
    output.mute()
    stream.feed_data(b"2026 INFO after\n")
    stream.feed_eof()

    with caplog.at_level("DEBUG", logger="cqrs_worker.process.output"):
        await output.finished()

    assert capsys.readouterr().err == "2026 INFO before\n"
    assert [r.getMessage() for r in caplog.records] == ["worker process 1: 2026 INFO after"]


async def test_a_very_long_line_is_passed_on_in_pieces(
    capsys: pytest.CaptureFixture[str],
) -> None:
    long = b"x" * (3 * 1024 * 1024)
    output = ChildOutput(_stream(long + b"\nnext\n"))

    await output.forward()

    assert capsys.readouterr().err.replace("\n", "") == "x" * len(long) + "next"

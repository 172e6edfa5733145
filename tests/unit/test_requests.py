"""Requests: unknown fields refused, ``Request[Result]`` types what ``send`` returns."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pydantic
import pytest

from cqrs_worker import Command, Query, Request, Response

ROOT = Path(__file__).resolve().parents[2]


class View(Response):
    link: str


class ReadMeeting(Query[View]):
    meeting_id: str


def test_unknown_fields_are_an_error() -> None:
    with pytest.raises(pydantic.ValidationError, match="meting_id\n  Extra inputs"):
        ReadMeeting(meeting_id="m-1", meting_id="typo")  # type: ignore[call-arg]  # under test


def test_a_class_may_allow_unknown_fields() -> None:
    class Loose(Command[None]):
        model_config = pydantic.ConfigDict(extra="allow")

    assert Loose(note="kept").model_extra == {"note": "kept"}  # type: ignore[call-arg]  # allowed


def test_parametrized_requests_are_requests() -> None:
    assert issubclass(ReadMeeting, Request)
    assert Request[View] is not Request  # pydantic's parametrized class, cached
    assert Request[View] is Request[View]


SNIPPET = """
    from cqrs_worker import Command, Query, Request, RequestMediator, Response

    class View(Response):
        link: str

    class ReadMeeting(Query[View]):
        meeting_id: str

    class Close(Command[None]):
        room: int

    class Untyped(Request):
        x: int

    async def main(mediator: RequestMediator) -> None:
        reveal_type(await mediator.send(ReadMeeting(meeting_id="m")))
        reveal_type(await mediator.send(Close(room=1)))
        reveal_type(await mediator.send(Untyped(x=1)))
        wrong: str = await mediator.send(ReadMeeting(meeting_id="m"))
"""


@pytest.mark.timeout(240)
def test_send_is_typed_by_the_request(tmp_path: Path) -> None:
    snippet = tmp_path / "typed_send.py"
    snippet.write_text(textwrap.dedent(SNIPPET))
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), str(snippet)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=230,
        check=False,
    )
    lines = [
        line.split(": ", 1)[1] for line in done.stdout.splitlines() if "typed_send.py:" in line
    ]

    assert lines == [
        'note: Revealed type is "typed_send.View"',
        'note: Revealed type is "None"',
        'note: Revealed type is "Any"',
        'error: Argument 1 to "send" of "RequestMediator" has incompatible type '
        '"ReadMeeting"; expected "Request[str]"  [arg-type]',
    ], done.stdout + done.stderr

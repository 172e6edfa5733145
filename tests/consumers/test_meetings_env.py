"""consumers.meetings.env: a setting from NAME, or from the file NAME_FILE names."""

from __future__ import annotations

from pathlib import Path

import pytest

from consumers.meetings.env import setting


def test_reads_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEETINGS_X", "postgresql://u:p@db/x")
    assert setting("MEETINGS_X") == "postgresql://u:p@db/x"


def test_reads_the_file_the_file_variable_names(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = tmp_path / "database-url"
    secret.write_text("postgresql://u:p@db/x\n", encoding="utf-8")  # as kubectl stores it
    monkeypatch.delenv("MEETINGS_X", raising=False)
    monkeypatch.setenv("MEETINGS_X_FILE", str(secret))
    assert setting("MEETINGS_X") == "postgresql://u:p@db/x"


def test_both_set_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MEETINGS_X", "a")
    monkeypatch.setenv("MEETINGS_X_FILE", str(tmp_path / "x"))
    with pytest.raises(RuntimeError, match="MEETINGS_X or MEETINGS_X_FILE, not both"):
        setting("MEETINGS_X")


def test_missing_names_both_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEETINGS_X", raising=False)
    monkeypatch.delenv("MEETINGS_X_FILE", raising=False)
    with pytest.raises(RuntimeError, match="MEETINGS_X_FILE"):
        setting("MEETINGS_X")
    assert setting("MEETINGS_X", "fallback") == "fallback"

from __future__ import annotations

import time

import pytest

from cqrs_worker.outbox import RelayReadiness


def test_not_ready_until_both_dependencies_answered() -> None:
    readiness = RelayReadiness()
    assert readiness.check() == ("not ready: database (not reached yet); broker (not started yet)")
    readiness.up("broker")
    readiness.up("database")
    assert readiness.check() is None
    assert readiness.problems() == {}


def test_names_the_dependency_that_is_down_and_recovers() -> None:
    readiness = RelayReadiness()
    readiness.up("broker")
    readiness.up("database")
    readiness.down("database", "ConnectionResetError: reset by peer")
    assert readiness.check() == "not ready: database (ConnectionResetError: reset by peer)"
    assert not readiness.is_up("database")
    assert readiness.is_up("broker")
    readiness.up("database")
    assert readiness.check() is None


def test_stopping_is_never_ready() -> None:
    readiness = RelayReadiness()
    readiness.up("broker")
    readiness.up("database")
    readiness.stopping()
    assert readiness.is_stopping
    assert readiness.check() == "not ready: relay stopping"


def test_a_broker_outage_expires_only_after_a_quiet_period(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    readiness = RelayReadiness()
    readiness.up("database")
    readiness.down("broker", "timed out")
    now[0] += 119
    readiness.expire("broker", after=120)
    assert not readiness.is_up("broker")
    readiness.down("broker", "timed out again")  # a later failure restarts the quiet period
    now[0] += 119
    readiness.expire("broker", after=120)
    assert not readiness.is_up("broker")
    now[0] += 1
    readiness.expire("broker", after=120)
    assert readiness.is_up("broker")


def test_liveness_fails_only_after_the_relay_stopped_beating(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    readiness = RelayReadiness()
    now[0] += 300
    assert readiness.live(300) is None
    now[0] += 1
    assert readiness.live(300) == "relay stuck: no progress for 301s (liveness_stuck_after 300s)"
    assert readiness.live(0) is None  # turned off
    readiness.beat()
    assert readiness.live(300) is None

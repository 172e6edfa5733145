"""The JSON log tests' worker target and checks (``cqrs-worker run --log-format json``).

``Charge`` logs a line of its own and fails when told to. The messages are
python-cqrs envelopes with no ``event_name`` header (its producers send
none): every line about them must still name the event, the origin, the
attempt and the worker; the traceback appears once, at the dead-letter line,
and the dead letter carries it in a header.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import uuid
from typing import Any

import cqrs
import pydantic

from cqrs_worker import DefaultContainer, EventMap, EventMediator, NotificationEvent
from cqrs_worker.bootstrap import bootstrap_events
from tests.support.processes import ManagedProcess, ProcessSet
from tests.support.waiting import async_wait_until

logger = logging.getLogger("shop.charge")


class Order(pydantic.BaseModel):
    n: int
    fail: bool = False


class OrderPlaced(NotificationEvent[Order]):
    event_name: str = "OrderPlaced"
    topic: str = "orders"


class ChargeDeclined(RuntimeError):
    pass


class Charge:
    async def handle(self, event: OrderPlaced) -> None:
        logger.info("charging order %d", event.payload.n)
        if event.payload.fail:
            raise ChargeDeclined(f"card declined for order {event.payload.n}")


def mediator() -> EventMediator:
    events = EventMap()
    events.bind(OrderPlaced, Charge)
    return bootstrap_events(events=events, container=DefaultContainer(), middlewares=())


WORKER_ID = "logs-worker-1"
FAILING, GOOD = 1, 2
SETTINGS = {
    "CQRS_WORKER_WORKER_ID": WORKER_ID,
    "CQRS_WORKER_MAX_ATTEMPTS": "3",
    "CQRS_WORKER_RETRY_INITIAL_DELAY": "0.01",
    "CQRS_WORKER_RETRY_MAX_DELAY": "0.05",
    "CQRS_WORKER_HEALTH_PORT": "0",
    "CQRS_WORKER_SHUTDOWN_TIMEOUT": "5",
}


@dataclasses.dataclass(frozen=True)
class TheirOrder:
    n: int
    fail: bool


def their_event(n: int, *, fail: bool) -> Any:
    """An ``OrderPlaced`` as python-cqrs writes it (camelCase envelope, hex id)."""
    return cqrs.NotificationEvent[TheirOrder](
        event_name="OrderPlaced", topic="orders", payload=TheirOrder(n=n, fail=fail)
    )


def start_worker(processes: ProcessSet, *flags: str, env: dict[str, str]) -> ManagedProcess:
    return processes.start_python(
        [
            "-m",
            "cqrs_worker.cli",
            "run",
            "tests.integration.worker.logs_app:mediator",
            "--factory",
            "--log-format",
            "json",
            *flags,
        ],
        name="worker",
        env={**SETTINGS, **env},
    )


async def run_until_dead_lettered(worker: ManagedProcess) -> list[dict[str, Any]]:
    """Wait for the outcome of both messages, stop the worker, return its JSON lines."""
    outcomes = (
        '"message": "dead-lettering OrderPlaced after 3',
        f'"message": "charging order {GOOD}"',
    )
    await async_wait_until(
        lambda: all(text in worker.output() for text in outcomes),
        timeout=60,
        message="the failing message dead-lettered and the good one handled",
    )
    worker.terminate()
    assert await worker.wait_async(30) == 0
    lines = worker.output().splitlines()
    entries = [json.loads(line) for line in lines if line.strip()]  # every line is JSON
    assert len(entries) == len([line for line in lines if line.strip()])
    return entries


def assert_lines_name_the_message(
    entries: list[dict[str, Any]], event_id: uuid.UUID, origin: dict[str, Any]
) -> None:
    about = [e for e in entries if e.get("event_id") == str(event_id)]
    by_logger = [(e["logger"], e["level"], e.get("attempt")) for e in about]
    assert by_logger == [
        ("shop.charge", "INFO", 1),
        ("cqrs_worker.worker.retry", "WARNING", 1),
        ("shop.charge", "INFO", 2),
        ("cqrs_worker.worker.retry", "WARNING", 2),
        ("shop.charge", "INFO", 3),
        ("cqrs_worker.worker.dead_letter", "ERROR", 3),
    ]
    for entry in about:
        assert entry["event_name"] == "OrderPlaced", entry
        assert entry["worker_id"] == WORKER_ID, entry
        assert {name: entry.get(name) for name in origin} == origin, entry
    # Nothing about the message went out without its fields, nor named it None.
    ours = [e for e in entries if e["logger"] in ("shop.charge", "cqrs_worker.worker.retry")]
    assert all("event_id" in e for e in ours)
    assert not any(" of None " in e["message"] for e in entries)
    tracebacks = [e for e in entries if "exception" in e]
    assert len(tracebacks) == 1
    assert tracebacks[0] is about[-1]
    assert "in handle" in tracebacks[0]["exception"]
    assert tracebacks[0]["exception"].endswith(f"ChargeDeclined: card declined for order {FAILING}")
    assert sum(e["message"].count("Traceback") for e in entries) == 0


def assert_stacktrace(header: str) -> None:
    assert header.startswith("Traceback (most recent call last):")
    assert header.endswith(f"ChargeDeclined: card declined for order {FAILING}")
    assert len(header.encode()) <= 8 * 1024

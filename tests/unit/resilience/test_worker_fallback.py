"""In the worker: an event handler behind an open circuit goes to its fallback, not to retry."""

from __future__ import annotations

import pydantic

from cqrs_worker import DefaultContainer, EventMap, NotificationEvent
from cqrs_worker.bootstrap import bootstrap_events
from cqrs_worker.event_mediator import EventMediator
from cqrs_worker.resilience import EventHandlerFallback, InMemoryCircuitBreaker
from cqrs_worker.testing import run_worker_in_memory


class Mail(pydantic.BaseModel):
    to: str


class UserJoined(NotificationEvent[Mail]):
    event_name: str = "UserJoined"
    topic: str = "users"


class Mailer:
    def __init__(self) -> None:
        self.down = True
        self.sent: list[str] = []
        self.attempts = 0
        self.queued: list[str] = []
        self.queue_down = False


class SendWelcomeMail:
    def __init__(self, mailer: Mailer) -> None:
        self.mailer = mailer

    async def handle(self, event: UserJoined) -> None:
        self.mailer.attempts += 1
        if self.mailer.down:
            raise ConnectionError("smtp down")
        self.mailer.sent.append(event.payload.to)


class QueueWelcomeMail:
    def __init__(self, mailer: Mailer) -> None:
        self.mailer = mailer

    async def handle(self, event: UserJoined) -> None:
        if self.mailer.queue_down:
            raise ConnectionError("queue down")
        self.mailer.queued.append(event.payload.to)


def mediator(mailer: Mailer, breaker: InMemoryCircuitBreaker) -> EventMediator:
    events = EventMap()
    events.bind(
        UserJoined,
        EventHandlerFallback(SendWelcomeMail, QueueWelcomeMail, circuit_breaker=breaker),
    )
    container = DefaultContainer()
    container.register_instance(Mailer, mailer)
    return bootstrap_events(events=events, container=container, middlewares=())


def joined(to: str) -> UserJoined:
    return UserJoined(payload=Mail(to=to))


async def test_an_open_circuit_sends_events_to_the_fallback_and_they_are_acked() -> None:
    mailer = Mailer()
    breaker = InMemoryCircuitBreaker(fail_max=2, timeout_duration=3600)

    async with run_worker_in_memory(mediator(mailer, breaker), max_attempts=3) as harness:
        await harness.publish(*(joined(f"u{i}@example.com") for i in range(5)))
        await harness.wait_handled(5)

    # Two failures opened the circuit; the other three never reached the mailer.
    assert mailer.attempts == 2
    assert mailer.queued == [f"u{i}@example.com" for i in range(5)]
    assert harness.stats.retried == 0
    assert harness.dead_letters() == []


async def test_a_failing_fallback_takes_the_retry_path() -> None:
    mailer = Mailer()
    mailer.queue_down = True
    breaker = InMemoryCircuitBreaker(fail_max=100, timeout_duration=3600)

    async with run_worker_in_memory(mediator(mailer, breaker), max_attempts=3) as harness:
        await harness.publish(joined("a@example.com"))
        await harness.wait_handled(1)

    assert mailer.attempts == 3
    assert harness.stats.retried == 2
    [dead] = harness.dead_letters("users")
    assert dead.headers["x-dlq-reason"] == "handler-failed"

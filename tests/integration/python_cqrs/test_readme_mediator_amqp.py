"""The python-cqrs README's "Mediator" sample, against the local RabbitMQ.

Copied as written, with ``cqrs`` renamed to ``cqrs_worker`` and the sample's
missing comma after ``container=container`` put back. The sample's queue and
exchange names are kept, so the test deletes them before and after; login,
password and host come from the test's RabbitMQ URL.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import aio_pika
import orjson
import pytest

import cqrs_worker as cqrs
from tests.integration.python_cqrs.support import MeetingAPI, container_with

QUEUE, EXCHANGE = "user_joined_domain", "user_joined"


class UserJoinedDomainEvent(cqrs.DomainEvent):
    user_id: str
    meeting_id: str


class JoinUserCommand(cqrs.Request[None]):
    user_id: str
    meeting_id: str


class JoinUserCommandHandler:
    def __init__(self) -> None:
        self.events: list[cqrs.Event] = []

    async def handle(self, request: JoinUserCommand) -> None:
        self.events.append(
            UserJoinedDomainEvent(user_id=request.user_id, meeting_id=request.meeting_id)
        )
        self.events.append(
            cqrs.NotificationEvent(
                event_topic="user_joined",
                event_name="UserJoined",
                payload={"user_id": request.user_id, "meeting_id": request.meeting_id},
            )
        )


seen: list[str] = []


class UserJoinedDomainEventHandler:
    async def handle(self, event: UserJoinedDomainEvent) -> None:
        seen.append(event.user_id)


async def _delete_topology(url: str) -> None:
    connection = await aio_pika.connect(url)
    async with connection:
        for delete in (
            lambda ch: ch.queue_delete(QUEUE),
            lambda ch: ch.exchange_delete(EXCHANGE),
        ):
            channel = await connection.channel()
            with contextlib.suppress(aio_pika.exceptions.ChannelClosed):
                await delete(channel)


@pytest.fixture
async def clean_rabbitmq(rabbitmq_url: str) -> AsyncIterator[str]:
    await _delete_topology(rabbitmq_url)
    yield rabbitmq_url
    await _delete_topology(rabbitmq_url)


async def test_mediator_sample(clean_rabbitmq: str) -> None:
    where = urlsplit(clean_rabbitmq)
    LOGIN, PASSWORD, HOSTNAME = where.username, where.password, where.netloc.split("@")[-1]
    container = container_with(MeetingAPI())
    join_user_command = JoinUserCommand(user_id="ada", meeting_id="m-1")
    seen.clear()

    # --- the sample ---
    from cqrs_worker.events import EventEmitter, EventMap
    from cqrs_worker.mediator import RequestMediator
    from cqrs_worker.message_brokers.amqp import AMQPMessageBroker
    from cqrs_worker.requests import RequestMap

    message_broker = AMQPMessageBroker(
        dsn=f"amqp://{LOGIN}:{PASSWORD}@{HOSTNAME}/",
        queue_name="user_joined_domain",
        exchange_name="user_joined",
    )
    event_map = EventMap()
    event_map.bind(UserJoinedDomainEvent, UserJoinedDomainEventHandler)
    request_map = RequestMap()
    request_map.bind(JoinUserCommand, JoinUserCommandHandler)
    event_emitter = EventEmitter(event_map, container, message_broker)

    mediator = RequestMediator(
        request_map=request_map,
        container=container,
        event_emitter=event_emitter,
    )

    # Handles command and published events by the command handler.
    await mediator.send(join_user_command)
    # --- end of the sample ---

    try:
        assert seen == ["ada"]  # the domain event ran in-process
        connection = await aio_pika.connect(clean_rabbitmq)
        async with connection:
            channel = await connection.channel()
            queue = await channel.get_queue(QUEUE)  # declared and bound by the broker
            # Already there: send() returned after RabbitMQ confirmed the routed message.
            message = await queue.get(no_ack=True, timeout=10)
        body = orjson.loads(message.body)
        assert (body["event_name"], body["topic"]) == ("UserJoined", "user_joined")
        assert body["payload"] == {"user_id": "ada", "meeting_id": "m-1"}
    finally:
        await message_broker.close()

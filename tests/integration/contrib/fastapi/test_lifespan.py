"""The app's lifespan connects a real AMQPMessageBroker to RabbitMQ and disconnects it.

RabbitMQ is reached through a TCP proxy, so that the connection the broker
holds is seen from outside: open while the app runs, gone after it stopped.
A route's command emits an event published through that broker.
"""

from __future__ import annotations

from collections.abc import Callable

import aio_pika
import httpx
import orjson
import pydantic
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from yarl import URL

from cqrs_worker import Command, DefaultContainer, NotificationEvent, RequestMap, bootstrap
from cqrs_worker.brokers import AMQPMessageBroker, BrokerEventEmitter
from cqrs_worker.contrib.fastapi import Lifespan, Mediator, setup
from cqrs_worker.events import Event
from tests.support.names import unique_name
from tests.support.proxy import TcpProxy
from tests.support.waiting import async_wait_until


class Pinged(pydantic.BaseModel):
    text: str


class PingSent(NotificationEvent[Pinged]):
    event_name: str = "PingSent"
    topic: str = "pings"


class Ping(Command):
    text: str


class PingHandler:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def handle(self, command: Ping) -> None:
        self.events.append(PingSent(payload=Pinged(text=command.text)))


async def test_the_lifespan_connects_the_broker_and_closes_it(
    rabbitmq_url: str, make_tcp_proxy: Callable[[str, int], TcpProxy]
) -> None:
    url = URL(rabbitmq_url)
    proxy = make_tcp_proxy(url.host or "127.0.0.1", url.port or 5672)
    exchange = unique_name("api.events")
    broker = AMQPMessageBroker(
        str(url.with_host("127.0.0.1").with_port(proxy.port)), exchange=exchange
    )
    requests = RequestMap()
    requests.bind(Ping, PingHandler)
    mediators = bootstrap(
        requests=requests, container=DefaultContainer(), emitter=BrokerEventEmitter(broker)
    )
    app = FastAPI(lifespan=Lifespan(broker))
    setup(app, mediator=mediators.requests)

    @app.post("/ping", status_code=202)
    async def ping(mediator: Mediator) -> None:
        await mediator.send(Ping(text="hello"))

    connection = await aio_pika.connect(rabbitmq_url)
    try:
        channel = await connection.channel()
        declared = await channel.declare_exchange(
            exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(declared, "pings")
        assert proxy.active_connections == 0

        async with LifespanManager(app):
            assert proxy.active_connections == 1, "connected at start-up"
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as api:
                answer = await api.post("/ping")
            assert answer.status_code == 202, answer.text
            message = await queue.get(timeout=10, fail=True)
            assert message is not None
            assert orjson.loads(message.body)["payload"] == {"text": "hello"}
            await message.ack()

        await async_wait_until(
            lambda: proxy.active_connections == 0,
            timeout=30,
            message=lambda: f"{proxy.active_connections} connection(s) left after shutdown",
        )
        await declared.delete()
    finally:
        await connection.close()

"""RabbitMQ consume throughput: our RabbitSource end to end next to a raw aio-pika consumer.

Run with ``.venv/bin/python benchmarks/bench_worker_rabbitmq.py [--events 50000]``
(``--profile`` prints the top of a cProfile of our run). Uses
``CQRS_WORKER_TEST_RABBITMQ`` (default ``amqp://guest:guest@127.0.0.1:5672/``).

Each variant gets its own durable queue, declared the way the worker declares
it (topic exchange, dead-letter exchange and queue), filled with N envelopes
(~220 bytes, 1,000 partition keys, our headers) before the clock starts:

1. Raw: aio-pika, one channel, prefetch 256, ``orjson.loads`` per message and
   ``await message.ack()`` per message. Timed from the first delivery to the
   last ack.
2. Ours: :class:`RabbitSource` (prefetch 256, concurrency 64): decode and
   validate into the typed event, route through an ``EventMediator`` to a
   trivial handler, batched acks. Timed from the first delivery until
   ``stop()`` returned (every ack sent, channels closed); the queue is then
   checked to be empty.

``--rounds`` alternates the two and compares the best round of each, since
other work on a shared machine slows single rounds. Target: ours >= 1.0 x
raw. Exits 1 if missed.

``--batch-handler``: our handler defines ``handle_batch`` and the pipeline
takes up to ``BATCH_HANDLER_MAX`` (500) queued deliveries of a lane per call;
the messages carry no partition key, so the queue is one lane (as the worker
orders keyless messages by default). Target: ours >= 2.0 x raw.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aio_pika
import aio_pika.abc
import orjson
import pydantic

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from cqrs_worker import NotificationEvent
from cqrs_worker.brokers import OutgoingMessage
from cqrs_worker.brokers.amqp import PARTITION_KEY_HEADER
from cqrs_worker.container import DefaultContainer
from cqrs_worker.envelope import EnvelopeCodec, EventRegistry
from cqrs_worker.event_mediator import EventMediator
from cqrs_worker.maps import EventMap
from cqrs_worker.worker.pipeline import build_pipeline
from cqrs_worker.worker.rabbitmq import QueueSpec, RabbitDeadLetterSink, RabbitSource
from cqrs_worker.worker.rabbitmq.topology import connect, stop_quietly
from cqrs_worker.worker.retry import RetryPolicy
from cqrs_worker.worker.stats import WorkerStats

URL = os.environ.get("CQRS_WORKER_TEST_RABBITMQ") or "amqp://guest:guest@127.0.0.1:5672/"
PREFETCH = 256
RATIO_TARGET = 1.0
BATCH_RATIO_TARGET = 2.0
BATCH_HANDLER_MAX = 500


class Placed(pydantic.BaseModel):
    order_id: str
    amount: int
    note: str


class OrderPlaced(NotificationEvent[Placed]):
    event_name: str = "OrderPlaced"
    topic: str = "orders"


class Meter:
    def __init__(self, n: int) -> None:
        self.n = n
        self.count = 0
        self.t0 = 0.0
        self.done = asyncio.Event()

    def tick(self) -> None:
        if self.count == 0:
            self.t0 = time.perf_counter()
        self.count += 1
        if self.count >= self.n:
            self.done.set()


class CountOrders:
    meter: Meter

    async def handle(self, event: OrderPlaced) -> None:
        CountOrders.meter.tick()


class CountOrderBatches(CountOrders):
    async def handle_batch(self, events: list[OrderPlaced]) -> None:
        for _ in events:
            CountOrders.meter.tick()


class World:
    """One variant's exchange, queue and dead-letter objects (deleted afterwards)."""

    def __init__(self, label: str, *, keyed: bool = True) -> None:
        self.keyed = keyed
        suffix = uuid.uuid4().hex[:8]
        self.exchange = f"bench.{label}.{suffix}"
        self.topic = "orders"
        self.queue = f"bench.{label}.{suffix}.q"

    async def prepare(self, n: int) -> None:
        broker, connection = await connect(
            url=URL,
            exchange=self.exchange,
            dead_letter_exchange=f"{self.exchange}.dlx",
            queues=[QueueSpec(self.queue, (self.topic,))],
            dlq_suffix=".dlq",
            timeout=10,
            reconnect_interval=5,
        )
        try:
            channel = await connection.channel(publisher_confirms=True)
            exchange = await channel.get_exchange(self.exchange)
            for start in range(0, n, 1000):
                await asyncio.gather(
                    *(
                        exchange.publish(self.message(i), routing_key=self.topic)
                        for i in range(start, min(n, start + 1000))
                    )
                )
            ready = await self.ready(channel)
            if ready != n:
                raise SystemExit(f"{self.queue} holds {ready} messages, not {n}")
            await channel.close()
        finally:
            await stop_quietly(broker)

    def message(self, i: int) -> aio_pika.Message:
        event = OrderPlaced(
            partition_key=f"order-{i % 1000}" if self.keyed else None,
            payload=Placed(order_id=f"order-{i % 1000}", amount=i % 977, note="x" * 40),
        )
        out = OutgoingMessage.from_event(event)
        key = {PARTITION_KEY_HEADER: out.key} if out.key else {}
        return aio_pika.Message(
            out.body,
            headers={**out.headers, **key},
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )

    async def ready(self, channel: aio_pika.abc.AbstractChannel) -> int:
        declared = await channel.declare_queue(self.queue, passive=True)
        return int(declared.declaration_result.message_count or 0)

    async def left(self) -> int:
        connection = await aio_pika.connect(URL)
        try:
            return await self.ready(await connection.channel())
        finally:
            await connection.close()

    async def delete(self) -> None:
        connection = await aio_pika.connect(URL)
        channel = await connection.channel()
        for queue in (self.queue, f"{self.queue}.dlq"):
            await channel.queue_delete(queue)
        for exchange in (self.exchange, f"{self.exchange}.dlx"):
            await channel.exchange_delete(exchange)
        await connection.close()


async def raw(world: World, n: int) -> float:
    meter = Meter(n)
    connection = await aio_pika.connect(URL)
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=PREFETCH)
    queue = await channel.get_queue(world.queue)

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        orjson.loads(message.body)
        await message.ack()
        meter.tick()

    tag = await queue.consume(on_message)
    await asyncio.wait_for(meter.done.wait(), 600)
    elapsed = time.perf_counter() - meter.t0
    await queue.cancel(tag)
    await connection.close()
    return n / elapsed


async def ours(world: World, n: int, *, batch: bool = False, **options: Any) -> float:
    meter = Meter(n)
    CountOrders.meter = meter
    event_map = EventMap()
    event_map.bind(OrderPlaced, CountOrderBatches if batch else CountOrders)
    stats = WorkerStats()
    sink = RabbitDeadLetterSink(exchange=f"{world.exchange}.dlx")
    pipeline = build_pipeline(
        mediator=EventMediator(event_map, DefaultContainer()),
        codec=EnvelopeCodec(EventRegistry.from_event_map(event_map), max_size=1_048_576),
        dead_letters=sink,
        retry=RetryPolicy(),
        stats=stats,
        worker_id="bench",
        batch_max=BATCH_HANDLER_MAX if batch else 1,
    )
    source = RabbitSource(
        url=URL,
        queues=[QueueSpec(world.queue, (world.topic,))],
        pipeline=pipeline,
        stats=stats,
        dead_letters=sink,
        exchange=world.exchange,
        prefetch=PREFETCH,
        concurrency=64,
        **options,
    )
    await source.start()
    runner = asyncio.create_task(source.run())
    await asyncio.wait_for(meter.done.wait(), 600)
    await source.stop(30)
    elapsed = time.perf_counter() - meter.t0
    await runner
    if stats.handled != n or stats.dead_lettered:
        raise SystemExit(
            f"ours: handled {stats.handled} of {n}, dead-lettered {stats.dead_lettered}"
        )
    return n / elapsed


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--profile", action="store_true", help="cProfile our run")
    parser.add_argument("--rounds", type=int, default=3, help="raw/ours rounds; best of each")
    parser.add_argument("--batch-handler", action="store_true", help="a handle_batch handler")
    args = parser.parse_args()
    n = args.events
    batch = args.batch_handler
    target = BATCH_RATIO_TARGET if batch else RATIO_TARGET

    raw_world, our_world = World("raw", keyed=not batch), World("ours", keyed=not batch)
    raw_rates: list[float] = []
    our_rates: list[float] = []
    left = 0
    profiler = cProfile.Profile() if args.profile else None
    try:
        for round_ in range(1, args.rounds + 1):
            await raw_world.prepare(n)
            raw_rates.append(await raw(raw_world, n))
            await our_world.prepare(n)
            if profiler is not None:
                profiler.enable()
            our_rates.append(await ours(our_world, n, batch=batch))
            if profiler is not None:
                profiler.disable()
            left += await our_world.left()
            print(
                f"round {round_}: raw {raw_rates[-1]:,.0f}/s, ours {our_rates[-1]:,.0f}/s, "
                f"ratio {our_rates[-1] / raw_rates[-1]:.2f}"
            )
    finally:
        await raw_world.delete()
        await our_world.delete()

    raw_rate, our_rate = max(raw_rates), max(our_rates)
    print(f"raw aio-pika, prefetch {PREFETCH}, ack each:    {raw_rate:>9,.0f} msg/s")
    how = f"handle_batch (up to {BATCH_HANDLER_MAX})" if batch else "end to end"
    print(f"RabbitSource {how}, batched acks: {our_rate:>9,.0f} msg/s ({left} left unacked)")
    ratio = our_rate / raw_rate
    met = sum(o / r >= target for o, r in zip(our_rates, raw_rates, strict=True))
    verdict = "ok" if ratio >= target else "MISSED"
    print(
        f"ratio ours/raw: {ratio:.2f} (target >= {target:.1f}, met in {met} of "
        f"{args.rounds} rounds): {verdict}"
    )
    if profiler is not None:
        stats = pstats.Stats(profiler)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats("cqrs_worker", 25)
    return 0 if ratio >= target and left == 0 else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

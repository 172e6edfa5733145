"""The Kafka worker against raw aiokafka, side by side in one run on one topic.

Run with ``.venv/bin/python benchmarks/bench_worker_kafka.py`` (Kafka from
``CQRS_WORKER_TEST_KAFKA``, else a Tansu broker started for the run).

* **Throughput** (default): one topic of 4 partitions holding ``--events``
  envelopes of ~250 bytes, read by each contender in turn, every time with a
  fresh consumer group:

  - *raw*: aiokafka ``getmany`` (1,000 records) + ``orjson.loads`` of every
    value + one commit per batch;
  - *worker*: :class:`~cqrs_worker.worker.kafka.KafkaSource` end to end:
    decode and validate the envelope, route through the ``EventMediator`` to a
    trivial handler, commit. Its time ends when every event was handled *and*
    its offset committed.

  ``--rounds`` alternates them (fresh groups each time) and compares the
  best round of each, since other work on a shared machine slows single
  rounds. Prints both rates and their ratio (target: at least 0.30); exits 1
  below it.
* **Observability on vs off**, in the same rounds: the worker runs twice per
  round, with observability on (the default: outcome counters, attempt
  timing, attempts in flight, the per-delivery log context) and off
  (``build_pipeline(observe=False)`` and the log context not bound; tracing
  costs nothing either way without a tracer provider).
  Prints the ratio to raw of each and their quotient (target: on within 10 %
  of off, a quotient of at least 0.90); exits 1 below it.
* **Memory** (``--memory 1000000``): the worker alone over that many events
  (produced by a child process); prints the RSS after 10 % and after 100 % of
  them and the peak RSS, to show that memory does not grow per event.

* **Batch handlers** (``--batch-handler``): the handler defines
  ``handle_batch`` and the pipeline takes up to ``BATCH_HANDLER_MAX`` (500)
  queued events of a lane per call; raw vs that worker per round, the best
  of each compared (target: at least 0.70); exits 1 below it. Keyless
  events by default here (``--keys 0``): a lane is then a partition, and
  batches are as large as a fetch allows.

``--keys`` sets how many distinct message keys (aggregates) the events use
(0: none); ``--profile FILE`` writes a cProfile of the worker run.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import resource
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pydantic

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from aiokafka import (  # type: ignore[import-untyped]  # no type hints
    AIOKafkaConsumer,
    AIOKafkaProducer,
    TopicPartition,
)
from aiokafka.structs import OffsetAndMetadata  # type: ignore[import-untyped]

import cqrs_worker.worker.pipeline as pipeline_module
from cqrs_worker import EnvelopeCodec, EventMap, EventRegistry, NotificationEvent
from cqrs_worker.container import DefaultContainer
from cqrs_worker.envelope import encode_event, event_headers
from cqrs_worker.event_mediator import EventMediator
from cqrs_worker.worker.kafka import KafkaDeadLetterSink, KafkaSource
from cqrs_worker.worker.pipeline import build_pipeline
from cqrs_worker.worker.retry import RetryPolicy
from cqrs_worker.worker.stats import WorkerStats
from tests.support.kafka import FAST_GROUP_SETTINGS, TansuBroker, create_topic

PARTITIONS = 4
BATCH = 1000
TARGET_RATIO = 0.30
#: Observability on may cost at most 10 % of the ratio with it off.
TARGET_OBSERVED = 0.90
#: Batch handlers: at least this ratio to raw (issue 13).
TARGET_BATCH_RATIO = 0.70
BATCH_HANDLER_MAX = 500


class Order(pydantic.BaseModel):
    order_id: int
    customer: str
    amount: int


class OrderPlaced(NotificationEvent[Order]):
    event_name: str = "OrderPlaced"
    topic: str = "orders"


class OrderPlacedHandler:
    count = 0

    async def handle(self, event: OrderPlaced) -> None:
        OrderPlacedHandler.count += 1


class OrderPlacedBatchHandler(OrderPlacedHandler):
    async def handle_batch(self, events: list[OrderPlaced]) -> None:
        OrderPlacedHandler.count += len(events)


async def produce(bootstrap: str, topic: str, events: int, keys: int) -> int:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=512 * 1024
    )
    await producer.start()
    size = 0
    try:
        pending = []
        for n in range(events):
            key = f"customer-{n % keys}" if keys else None
            event = OrderPlaced(
                topic=topic,
                partition_key=key,
                payload=Order(order_id=n, customer=key or "anyone", amount=n % 977),
            )
            body = encode_event(event)
            size = len(body)
            headers = [(name, value.encode()) for name, value in event_headers(event).items()]
            encoded = key.encode() if key else None
            pending.append(await producer.send(topic, body, key=encoded, headers=headers))
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return size


async def raw(bootstrap: str, topic: str, events: int) -> float:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"bench-raw-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **FAST_GROUP_SETTINGS,
    )
    await consumer.start()
    seen = 0
    began = 0.0
    try:
        while seen < events:
            batch = await consumer.getmany(timeout_ms=500, max_records=BATCH)
            if not batch:
                continue
            if not began:
                began = time.perf_counter()
            offsets = {}
            for tp, records in batch.items():
                for record in records:
                    orjson.loads(record.value)
                offsets[tp] = OffsetAndMetadata(records[-1].offset + 1, "")
                seen += len(records)
            await consumer.commit(offsets)
        return seen / (time.perf_counter() - began)
    finally:
        await consumer.stop()


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


async def worker(
    bootstrap: str,
    topic: str,
    events: int,
    *,
    memory: bool = False,
    profile: str | None = None,
    observe: bool = True,
    batch: bool = False,
) -> float:
    # Off means all of it off: the attempt timing and in-flight tracking
    # (observe=False) and the log context the pipeline binds per delivery.
    # (Tracing needs nothing: with no tracer provider the pipeline is built
    # without it either way; see bench_tracing.py for the SDK's cost.)
    bind, unbind = pipeline_module.bind_log_context, pipeline_module.unbind_log_context
    if not observe:
        pipeline_module.bind_log_context = _no_log_context  # type: ignore[assignment]
        pipeline_module.unbind_log_context = _no_log_context  # type: ignore[assignment]
    try:
        return await _worker(
            bootstrap, topic, events, memory=memory, profile=profile, observe=observe, batch=batch
        )
    finally:
        pipeline_module.bind_log_context, pipeline_module.unbind_log_context = bind, unbind


def _no_log_context(*args: Any) -> None:
    return None


async def _worker(
    bootstrap: str,
    topic: str,
    events: int,
    *,
    memory: bool,
    profile: str | None,
    observe: bool,
    batch: bool,
) -> float:
    event_map = EventMap()
    event_map.bind(OrderPlaced, OrderPlacedBatchHandler if batch else OrderPlacedHandler)
    mediator = EventMediator(event_map, DefaultContainer())
    stats = WorkerStats()
    sink = KafkaDeadLetterSink(bootstrap=bootstrap, enable_idempotence=False)
    pipeline = build_pipeline(
        mediator=mediator,
        codec=EnvelopeCodec(EventRegistry.from_event_map(event_map)),
        dead_letters=sink,
        retry=RetryPolicy(),
        stats=stats,
        worker_id="bench",
        observe=observe,
        batch_max=BATCH_HANDLER_MAX if batch else 1,
    )
    group = f"bench-worker-{uuid.uuid4().hex[:8]}"
    source = KafkaSource(
        bootstrap=bootstrap,
        group_id=group,
        topics=[topic],
        pipeline=pipeline,
        stats=stats,
        concurrency=64,
        batch_size=BATCH,
        dead_letters=sink,
        consumer_options=FAST_GROUP_SETTINGS,
    )
    await source.start()
    watcher = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await watcher.start()  # reads the group's committed offsets, as anyone could
    profiler = cProfile.Profile() if profile else None
    run = asyncio.create_task(source.run())
    samples: dict[int, float] = {}  # percent of the events handled -> RSS (MB)
    try:
        while stats.received == 0:  # noqa: ASYNC110 - a counter the source bumps; no event to wait on
            await asyncio.sleep(0.001)
        began = time.perf_counter()
        if profiler:
            profiler.enable()
        decade = 10
        while stats.handled < events:
            if memory and stats.handled * 100 >= decade * events:
                samples[decade] = rss_mb()  # the first look past each tenth
                decade += 10
            await asyncio.sleep(0.002)
        while await committed(watcher, topic) < events:  # noqa: ASYNC110 - polls the broker
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - began
        if profiler:
            profiler.disable()
            profiler.dump_stats(profile)
    finally:
        await source.stop(10)
        await run
        await watcher.stop()
    assert stats.handled == events, stats
    if memory:
        samples[100] = rss_mb()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        shown = ", ".join(f"{p} %: {mb:.1f}" for p, mb in sorted(samples.items()) if p >= 10)
        growth = (samples[100] - samples[10]) * 2**20 / (events - events // 10)
        print(f"RSS (MB) after {shown}")
        print(f"growth from 10 % to 100 %: {growth:+.1f} bytes per event; peak RSS {peak:.1f} MB")
    return events / elapsed


async def committed(consumer: Any, topic: str) -> int:
    """The group's committed positions, summed over the topic's partitions."""
    total = 0
    for partition in range(PARTITIONS):
        total += await consumer.committed(TopicPartition(topic, partition)) or 0
    return total


async def compare_batches(bootstrap: str, topic: str, events: int, args: Any) -> int:
    """Raw vs the worker with a batch handler, alternating; the best round of each."""
    raw_rates: list[float] = []
    batch_rates: list[float] = []
    for n in range(1, args.rounds + 1):
        raw_rates.append(await raw(bootstrap, topic, events))
        batch_rates.append(await worker(bootstrap, topic, events, batch=True, profile=args.profile))
        print(
            f"round {n}: raw {raw_rates[-1]:,.0f}/s, batch handler {batch_rates[-1]:,.0f}/s "
            f"(ratio {batch_rates[-1] / raw_rates[-1]:.2f})"
        )
    ratio = max(batch_rates) / max(raw_rates)
    met = sum(b / r >= TARGET_BATCH_RATIO for b, r in zip(batch_rates, raw_rates, strict=True))
    print(f"raw aiokafka getmany + orjson.loads + commit per batch: {max(raw_rates):>9,.0f} /s")
    print(
        f"KafkaSource with handle_batch (up to {BATCH_HANDLER_MAX}):"
        f"        {max(batch_rates):>9,.0f} /s"
    )
    verdict = "ok" if ratio >= TARGET_BATCH_RATIO else "MISSED"
    print(
        f"batch handler ratio of the best rounds {ratio:.2f} (target >= {TARGET_BATCH_RATIO:.2f}, "
        f"met in {met} of {args.rounds} rounds): {verdict}"
    )
    return 0 if ratio >= TARGET_BATCH_RATIO else 1


async def main(args: argparse.Namespace) -> int:
    if args.keys is None:
        args.keys = 0 if args.batch_handler else 10_000
    if args.produce_to:
        bootstrap, _, topic = args.produce_to.partition("/")
        print(await produce(bootstrap, topic, args.events, args.keys))
        return 0
    external = os.environ.get("CQRS_WORKER_TEST_KAFKA")
    tansu = None if external else TansuBroker().start()
    bootstrap = external or tansu.bootstrap  # type: ignore[union-attr]
    try:
        events = args.memory or args.events
        topic = await create_topic(bootstrap, f"bench-{uuid.uuid4().hex[:8]}", PARTITIONS)
        began = time.perf_counter()
        if args.memory:  # in a child process, so the peak RSS below is the worker's alone
            child = [sys.executable, __file__, "--produce-to", f"{bootstrap}/{topic}"]
            child += ["--events", str(events), "--keys", str(args.keys)]
            process = await asyncio.create_subprocess_exec(*child, stdout=asyncio.subprocess.PIPE)
            out, _ = await process.communicate()
            if process.returncode:
                raise RuntimeError(f"producing failed with exit code {process.returncode}")
            size = int(out)
        else:
            size = await produce(bootstrap, topic, events, args.keys)
        print(
            f"{events:,} events of {size} bytes over {args.keys or 'no'} keys in {PARTITIONS} "
            f"partitions (produced in {time.perf_counter() - began:.1f}s)"
        )
        if args.memory:
            rate = await worker(bootstrap, topic, events, memory=True, profile=args.profile)
            print(f"worker: {rate:,.0f} events/s")
            return 0
        if args.batch_handler:
            return await compare_batches(bootstrap, topic, events, args)
        raw_rates: list[float] = []
        worker_rates: list[float] = []
        bare_rates: list[float] = []
        for n in range(1, args.rounds + 1):
            raw_rates.append(await raw(bootstrap, topic, events))
            worker_rates.append(await worker(bootstrap, topic, events, profile=args.profile))
            bare_rates.append(await worker(bootstrap, topic, events, observe=False))
            print(
                f"round {n}: raw {raw_rates[-1]:,.0f}/s, worker {worker_rates[-1]:,.0f}/s "
                f"(ratio {worker_rates[-1] / raw_rates[-1]:.2f}), observability off "
                f"{bare_rates[-1]:,.0f}/s (ratio {bare_rates[-1] / raw_rates[-1]:.2f})"
            )
        raw_rate, worker_rate, bare_rate = max(raw_rates), max(worker_rates), max(bare_rates)
        ratio, bare_ratio = worker_rate / raw_rate, bare_rate / raw_rate
        quotient = ratio / bare_ratio
        print(f"raw aiokafka getmany + orjson.loads + commit per batch: {raw_rate:>9,.0f} /s")
        print(f"KafkaSource end to end (decode, route, handle, commit):  {worker_rate:>9,.0f} /s")
        print(f"the same with observability off:                         {bare_rate:>9,.0f} /s")
        verdict = "ok" if ratio >= TARGET_RATIO else "MISSED"
        print(f"ratio of the best rounds {ratio:.2f} (target >= {TARGET_RATIO:.2f}): {verdict}")
        cost = "ok" if quotient >= TARGET_OBSERVED else "MISSED"
        print(
            f"observability on {ratio:.2f} vs off {bare_ratio:.2f}: quotient {quotient:.3f} "
            f"(target >= {TARGET_OBSERVED:.2f}): {cost}"
        )
        return 0 if ratio >= TARGET_RATIO and quotient >= TARGET_OBSERVED else 1
    finally:
        if tansu is not None:
            tansu.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--keys", type=int, default=None, help="10,000; 0 with --batch-handler")
    parser.add_argument("--batch-handler", action="store_true", help="a handle_batch handler")
    parser.add_argument("--rounds", type=int, default=3, help="raw/worker rounds; best of each")
    parser.add_argument("--memory", type=int, default=0, metavar="EVENTS")
    parser.add_argument("--profile", metavar="FILE")
    parser.add_argument("--produce-to", metavar="BOOTSTRAP/TOPIC", help=argparse.SUPPRESS)
    sys.exit(asyncio.run(main(parser.parse_args())))

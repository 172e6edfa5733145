"""``cqrs-worker status`` against Tansu, with a real worker group that consumed events.

Messages go to chosen partitions, so every committed offset, end offset and
lag is known exactly: while the worker runs, each partition is owned by its
member and fully committed; after it stopped and more messages arrived, the
lag is exactly what arrived since, and nobody owns anything.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from typing import Any

from aiokafka import AIOKafkaProducer

from cqrs_worker.brokers import OutgoingMessage
from tests.support.kafka import FAST_GROUP_SETTINGS, create_topic
from tests.support.net import free_port
from tests.support.processes import REPO_ROOT, ProcessSet
from tests.unit.worker.sample import placed


def status(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cqrs_worker.cli", "status", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=_env(),
    )


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("CQRS_WORKER_")}


async def produce(bootstrap: str, topic: str, counts: dict[int, int], start: int = 0) -> None:
    """``counts[p]`` OrderPlaced events into partition ``p`` (numbered from ``start``)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        n = start
        for partition, count in counts.items():
            for _ in range(count):
                message = OutgoingMessage.from_event(placed(n).model_copy(update={"topic": topic}))
                headers = [(k, v.encode()) for k, v in message.headers.items()]
                await producer.send_and_wait(
                    topic, message.body, partition=partition, headers=headers
                )
                n += 1
    finally:
        await producer.stop()


def rows(report: dict[str, Any], topic: str) -> dict[int, dict[str, Any]]:
    return {p["partition"]: p for p in report["partitions"] if p["topic"] == topic}


async def test_status_shows_exact_offsets_lag_and_owners_of_a_real_worker_group(
    kafka_bootstrap: str, make_topic_name: Any, group_id: str, processes: ProcessSet
) -> None:
    topic, untouched = make_topic_name("status"), make_topic_name("untouched")
    await create_topic(kafka_bootstrap, topic, 3)
    await create_topic(kafka_bootstrap, untouched, 1)
    await produce(kafka_bootstrap, topic, {0: 5, 1: 7, 2: 9})
    await produce(kafka_bootstrap, untouched, {0: 4})
    worker = processes.start_python(
        [
            "-m",
            "cqrs_worker.cli",
            "run",
            "tests.unit.worker.sample:mediator",
            "--factory",
            "--kafka-bootstrap",
            kafka_bootstrap,
            "--group-id",
            group_id,
            "--topics",
            topic,
            "--health-port",
            str(free_port()),
            "--health-host",
            "127.0.0.1",
            "--no-kafka-idempotence",
            "--session-timeout-ms",
            str(FAST_GROUP_SETTINGS["session_timeout_ms"]),
            "--heartbeat-interval-ms",
            str(FAST_GROUP_SETTINGS["heartbeat_interval_ms"]),
        ],
        name="worker",
    )
    await worker.await_line(r"running: sources kafka", timeout=60)
    group = ["--kafka-bootstrap", kafka_bootstrap, "--group", group_id]

    # While it runs: everything consumed and committed, each partition owned by the worker.
    ends = {0: 5, 1: 7, 2: 9}
    report: dict[str, Any] = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done = await asyncio.to_thread(status, *group, "--topics", topic, "--json")
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        here = rows(report, topic)
        if all(here[p]["committed"] == end and here[p]["member"] for p, end in ends.items()):
            break
        await asyncio.sleep(0.5)  # polling a condition under the deadline above
    else:
        raise AssertionError(f"the group never caught up: {report}")
    assert report["state"] == "Stable"
    [member] = report["members"]
    if report["owners_inferred"]:  # Tansu reports no assignments in DescribeGroups
        assert member["assignment"] == []
    else:  # Apache Kafka does
        assert {tuple(tp) for tp in member["assignment"]} == {(topic, p) for p in ends}
    for partition, end in ends.items():
        row = rows(report, topic)[partition]
        assert (row["committed"], row["end"], row["lag"]) == (end, end, 0)
        assert row["member"] == member["member_id"]
    assert report["total_lag"] == 0

    text = await asyncio.to_thread(status, *group, "--topics", topic)
    assert text.returncode == 0, text.stderr
    assert member["member_id"] in text.stdout
    assert "total lag: 0" in text.stdout

    # Stopped, then more events: the lag is exactly what arrived since; nobody owns anything.
    worker.terminate()
    assert await worker.wait_async(30) == 0
    await produce(kafka_bootstrap, topic, {0: 2, 2: 3}, start=100)
    # Apache Kafka drops the member that left at once (LeaveGroup); Tansu 0.6 keeps
    # reporting it as Stable, without assignments, until the group changes again.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        after = await asyncio.to_thread(
            status, *group, "--topics", f"{topic},{untouched}", "--json"
        )
        assert after.returncode == 0, after.stderr
        report = json.loads(after.stdout)
        if not report["members"] or report["owners_inferred"]:
            break
        await asyncio.sleep(0.5)  # polling a condition under the deadline above
    else:
        raise AssertionError(f"the stopped worker is still a member: {report}")
    here = rows(report, topic)
    assert [(here[p]["committed"], here[p]["end"], here[p]["lag"]) for p in (0, 1, 2)] == [
        (5, 7, 2),
        (7, 7, 0),
        (9, 12, 3),
    ]
    if not report["owners_inferred"]:
        assert report["state"] == "Empty"
        assert all(here[p]["member"] is None for p in here)
    # A topic the group never read: nothing committed, everything is lag, nobody owns it.
    never_read = rows(report, untouched)[0]
    assert (never_read["committed"], never_read["end"], never_read["lag"]) == (None, 4, 4)
    assert never_read["member"] is None
    assert report["total_lag"] == 2 + 3 + 4

    # Without --topics: the topics the group committed.
    derived = await asyncio.to_thread(status, *group, "--json")
    assert derived.returncode == 0, derived.stderr
    assert {p["topic"] for p in json.loads(derived.stdout)["partitions"]} == {topic}


async def test_an_unknown_group_topic_or_an_unreachable_broker_is_one_line_and_exit_2(
    kafka_bootstrap: str, topic_name: str, group_id: str
) -> None:
    await create_topic(kafka_bootstrap, topic_name, 1)
    cases = [
        (
            ["--kafka-bootstrap", kafka_bootstrap, "--group", group_id],
            "has no members and no committed offsets",
        ),
        (
            [
                "--kafka-bootstrap",
                kafka_bootstrap,
                "--group",
                group_id,
                "--topics",
                "no-such-topic-x",
            ],
            "topic no-such-topic-x does not exist",
        ),
        (
            [
                "--kafka-bootstrap",
                f"127.0.0.1:{free_port()}",
                "--group",
                group_id,
                "--timeout",
                "5",
            ],
            "Kafka at 127.0.0.1:",
        ),
        (
            # The app's topics (its event classes': orders, shipments) do not exist here.
            [
                "tests.unit.worker.sample:mediator",
                "--factory",
                "--kafka-bootstrap",
                kafka_bootstrap,
                "--group",
                group_id,
            ],
            "topic orders, shipments does not exist",
        ),
        (["--group", group_id], "set CQRS_WORKER_KAFKA_BOOTSTRAP"),
        (["--kafka-bootstrap", kafka_bootstrap], "which consumer group?"),
        (
            ["nope.missing:app", "--kafka-bootstrap", kafka_bootstrap],
            "module 'nope.missing' not found",
        ),
    ]
    for args, expected in cases:
        done = await asyncio.to_thread(status, *args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert expected in done.stderr, (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "Traceback" not in done.stderr

"""``ChildHealth``: the children's health servers (real ones, on loopback) summed up."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from cqrs_worker.process import ChildHealth
from cqrs_worker.worker.health import HealthServer
from tests.support.net import free_port


class Child:
    """What one child's health server answers; change ``live``/``ready`` to turn it."""

    def __init__(self, handled: int) -> None:
        self.live: str | None = None
        self.ready: str | None = None
        self.registry = CollectorRegistry()
        Counter("demo_handled", "Handled.", ["topic"], registry=self.registry).labels("t").inc(
            handled
        )
        Histogram("demo_duration_seconds", "How long.", registry=self.registry).observe(0.1)
        self.server = HealthServer(
            host="127.0.0.1",
            port=0,
            live=lambda: self.live,
            ready=lambda: self.ready,
            metrics=lambda: (generate_latest(self.registry), CONTENT_TYPE_LATEST),
        )


@pytest.fixture
async def children() -> AsyncIterator[list[Child]]:
    started = [Child(3), Child(5)]
    for child in started:
        await child.server.start()
    yield started
    for child in started:
        await child.server.close()


def _health(children: list[Child], running: set[int] | None = None) -> ChildHealth:
    return ChildHealth(
        host="0.0.0.0",
        ports={n: child.server.port for n, child in enumerate(children)},
        running=lambda n: running is None or n in running,
    )


async def test_ready_and_live_only_when_every_child_is(children: list[Child]) -> None:
    health = _health(children)
    assert health.ready() == "worker process 0: starting; worker process 1: starting"
    await health.poll()
    assert (health.live(), health.ready()) == (None, None)

    children[1].ready = "kafka: no partitions assigned"
    children[0].live = "a handling attempt has run for 600s"
    await health.poll()
    assert health.ready() == "worker process 1: kafka: no partitions assigned"
    assert health.live() == "worker process 0: a handling attempt has run for 600s"


async def test_a_child_being_restarted_is_not_ready_but_not_dead(children: list[Child]) -> None:
    await children[1].server.close()  # crashed: nothing listens
    health = _health(children, running={0})
    await health.poll()
    assert health.live() is None
    assert health.ready() == "worker process 1: starting"

    refused = _health(children)  # running again but not serving yet
    await refused.poll()
    assert refused.live() is None
    assert refused.ready() == "worker process 1: starting"


async def test_metrics_of_every_child_with_a_worker_label(children: list[Child]) -> None:
    health = _health(children)
    await health.poll()
    body, content_type = health.metrics()

    assert content_type == CONTENT_TYPE_LATEST
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    handled = {
        s.labels["worker"]: s.value
        for s in families["demo_handled"].samples
        if s.name == "demo_handled_total"
    }
    assert handled == {"0": 3.0, "1": 5.0}
    assert families["demo_duration_seconds"].type == "histogram"
    counts = [s for s in families["demo_duration_seconds"].samples if s.name.endswith("_count")]
    assert sorted(s.labels["worker"] for s in counts) == ["0", "1"]
    assert body.decode().count("# TYPE demo_handled_total counter") == 1  # one family, not two


async def test_an_unused_port_is_just_not_answering() -> None:
    health = ChildHealth(host="127.0.0.1", ports={0: free_port()}, running=lambda n: True)
    await health.poll()
    assert health.live() is None
    assert health.metrics()[0] == b""

"""InMemoryBroker: the same contract as the real brokers, bounded, and awaitable."""

from __future__ import annotations

import asyncio

import pytest

from cqrs_worker.brokers import InMemoryBroker, OutgoingMessage
from cqrs_worker.errors import PublishError


def message(destination: str, n: int) -> OutgoingMessage:
    return OutgoingMessage(destination=destination, body=b"%d" % n, key=f"k{n % 2}")


@pytest.fixture
async def broker() -> InMemoryBroker:
    broker = InMemoryBroker(maxlen=5)
    await broker.start()
    return broker


async def test_starts_on_first_publish_and_stops_after_close() -> None:
    broker = InMemoryBroker()
    await broker.publish([message("a", 1)])
    await broker.close()
    with pytest.raises(PublishError, match="closed; call start"):
        await broker.publish([message("a", 2)])
    await broker.start()
    await broker.publish([message("a", 3)])
    assert [m.body for m in broker.messages()] == [b"1", b"3"]


async def test_keeps_messages_in_order_per_destination(broker: InMemoryBroker) -> None:
    await broker.publish([message("a", 1), message("b", 2), message("a", 3)])

    assert [m.body for m in broker.messages("a")] == [b"1", b"3"]
    assert [m.body for m in broker.messages()] == [b"1", b"2", b"3"]
    assert broker.messages("c") == []


async def test_is_bounded_but_counts_everything(broker: InMemoryBroker) -> None:
    await broker.publish([message("a", n) for n in range(8)])

    assert [m.body for m in broker.messages()] == [b"3", b"4", b"5", b"6", b"7"]
    assert broker.published_count() == 8
    assert broker.published_count("a") == 8
    assert broker.published_count("b") == 0


async def test_wait_for_returns_once_enough_were_published(broker: InMemoryBroker) -> None:
    waiting = asyncio.create_task(broker.wait_for(2, destination="a", timeout=5))
    await broker.publish([message("b", 0), message("a", 1)])
    assert not waiting.done()
    await broker.publish([message("a", 2)])

    assert [m.body for m in await waiting] == [b"1", b"2"]


async def test_wait_for_says_how_many_arrived_when_time_runs_out(broker: InMemoryBroker) -> None:
    await broker.publish([message("a", 1)])

    with pytest.raises(TimeoutError, match="1 of 3 messages were published to 'a'"):
        await broker.wait_for(3, destination="a", timeout=0.05)


async def test_an_unreachable_broker_refuses_whole_batches(broker: InMemoryBroker) -> None:
    broker.reachable = False
    with pytest.raises(PublishError, match="unreachable"):
        await broker.publish([message("a", 1), message("a", 2)])
    assert broker.messages() == []
    broker.reachable = True
    await broker.publish([message("a", 3)])
    assert broker.published_count() == 1


async def test_an_unreachable_broker_does_not_start() -> None:
    broker = InMemoryBroker()
    broker.reachable = False

    with pytest.raises(PublishError, match="unreachable"):
        await broker.start()


async def test_clear_forgets_messages_and_counts(broker: InMemoryBroker) -> None:
    await broker.publish([message("a", 1)])
    broker.clear()

    assert broker.messages() == []
    assert broker.published_count() == 0

"""``PrefetchWindow``: the channel's prefetch grows by what waits behind a retried key, bounded.

The channel is a recorder of ``basic_qos`` calls; RabbitMQ itself is covered by
tests/reliability/worker/test_r11_stuck_key_rabbitmq.py.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from cqrs_worker.worker.rabbitmq.window import PrefetchWindow


class QosRecorder:
    def __init__(self) -> None:
        self.qos: list[tuple[int, bool]] = []
        self.changed = asyncio.Event()
        self.is_closed = False

    async def basic_qos(self, *, prefetch_count: int, global_: bool) -> None:
        self.qos.append((prefetch_count, global_))
        self.changed.set()


def window(recorder: QosRecorder, held: list[int], *, max_held: int = 1000) -> PrefetchWindow:
    return PrefetchWindow(
        cast(Any, recorder),
        queue="q",
        prefetch=100,
        max_held=max_held,
        held=lambda: held[0],
        interval=0.001,
    )


def test_the_window_grows_in_steps_of_a_quarter_of_the_prefetch_up_to_the_bound() -> None:
    held = [0]
    prefetch = window(QosRecorder(), held, max_held=180)

    assert prefetch.wanted() == 100
    held[0] = 1
    assert prefetch.wanted() == 125
    held[0] = 26
    assert prefetch.wanted() == 150
    held[0] = 5000
    assert prefetch.wanted() == 280


async def test_the_channel_gets_the_new_window_and_the_old_one_back() -> None:
    recorder, held = QosRecorder(), [60]
    prefetch = window(recorder, held)
    runner = asyncio.create_task(prefetch.run())

    await asyncio.wait_for(recorder.changed.wait(), 1)
    assert recorder.qos == [(175, True)]
    recorder.changed.clear()
    held[0] = 0
    await asyncio.wait_for(recorder.changed.wait(), 1)
    assert recorder.qos == [(175, True), (100, True)]
    assert prefetch.size == 100

    recorder.is_closed = True
    await asyncio.wait_for(runner, 1)

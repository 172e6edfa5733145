from __future__ import annotations

from consumers.orders.saga import order_saga
from cqrs_worker.sagas import mermaid


def test_the_order_saga_as_a_flowchart() -> None:
    text = mermaid(order_saga)
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    # Forward, in order.
    assert "    start --> s0" in lines
    assert "    s0 --> s1" in lines
    assert "    s2 --> completed" in lines
    assert '    s1["charge_payment (local command)"]' in lines
    assert '    s2["ship (remote: waits for Shipped; timeout 60s)"]' in lines
    # A failure undoes the finished steps, last first.
    assert "    s2 -. fails .-> c1" in lines
    assert "    c1 --> c0" in lines
    assert "    c0 --> compensated" in lines
    assert "    s0 -. fails .-> compensated" in lines
    # A timed-out remote step is undone too; only local compensations can park the saga.
    assert "    s2 -. times out .-> c2" in lines
    assert "    c1 -. keeps failing .-> failed" in lines
    assert "    c0 -. keeps failing .-> failed" not in lines

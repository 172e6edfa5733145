"""Who owns a partition: decoded assignments, and the inference for brokers that send none."""

from __future__ import annotations

from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

from cqrs_worker.introspection.group_status import GroupStatus, PartitionStatus, partition_owners
from cqrs_worker.introspection.kafka_admin import Member, decode_member


def member(name: str, *assignment: tuple[str, int]) -> Member:
    return Member(
        member_id=name, client_id=f"{name}-client", client_host="/10.0.0.1", assignment=assignment
    )


def test_a_member_assignment_from_describe_groups_is_decoded() -> None:
    raw = ConsumerProtocolMemberAssignment(0, [("orders", [2, 0]), ("payments", [1])], b"").encode()
    decoded = decode_member(
        {"member_id": "m-1", "client_id": "w", "client_host": "/10.0.0.1", "member_assignment": raw}
    )
    assert decoded.assignment == (("orders", 0), ("orders", 2), ("payments", 1))
    empty = decode_member(
        {"member_id": "m-2", "client_id": "", "client_host": "", "member_assignment": b""}
    )
    assert empty.assignment == ()


def test_reported_assignments_name_the_owners() -> None:
    a, b = member("a", ("orders", 0)), member("b", ("orders", 1))
    partitions = [("orders", 0), ("orders", 1), ("orders", 2)]
    owners = partition_owners("Stable", (a, b), partitions, {("orders", 0): 3})
    assert owners == {("orders", 0): a, ("orders", 1): b}


def test_without_assignments_only_a_lone_stable_member_owns_what_the_group_consumed() -> None:
    lone = member("lone")
    partitions = [("orders", 0), ("orders", 1), ("other", 0)]
    committed = {("orders", 1): 7}
    assert partition_owners("Stable", (lone,), partitions, committed) == {
        ("orders", 0): lone,
        ("orders", 1): lone,
    }
    assert partition_owners("PreparingRebalance", (lone,), partitions, committed) == {}
    assert partition_owners("Stable", (lone, member("other")), partitions, committed) == {}
    assert partition_owners("Empty", (), partitions, committed) == {}


def test_total_lag_and_json_shape() -> None:
    rows = tuple(
        PartitionStatus(
            topic="orders",
            partition=p,
            committed=c,
            end=e,
            lag=e - (c or 0),
            member=None,
            client_id=None,
            host=None,
        )
        for p, c, e in ((0, 5, 7), (1, None, 4))
    )
    status = GroupStatus(group="g", state="Empty", members=(), partitions=rows)
    assert status.total_lag == 6
    assert status.to_dict()["total_lag"] == 6
    assert status.to_dict()["partitions"][1]["committed"] is None

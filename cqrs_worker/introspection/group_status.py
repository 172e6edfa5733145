"""Where a Kafka consumer group stands: :func:`group_status`, per partition of its topics.

From the admin API: the group's state and members (DescribeGroups, each
member's assignment decoded), its committed offsets (OffsetFetch) and the
topics' partitions (Metadata); the end offsets from a consumer *without* a
group, so asking never joins or disturbs the group. Lag is end minus
committed; for a partition with nothing committed yet it is end minus the
log start (the worker starts at the earliest offset).

Every request is bounded by ``timeout``. What cannot be answered -- an
unreachable broker, an unknown group or topic -- raises
:class:`~cqrs_worker.errors.ConfigurationError` saying what to check.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from cqrs_worker.errors import ConfigurationError
from cqrs_worker.introspection.kafka_admin import KafkaAdmin, Member, TopicPartitionKey

__all__ = ["GroupStatus", "PartitionStatus", "group_status", "partition_owners"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PartitionStatus:
    topic: str
    partition: int
    committed: int | None
    """The group's committed offset (the next to read); ``None``: nothing committed."""
    end: int
    """The end offset (high watermark): the offset the next message will get."""
    lag: int
    """Messages not yet committed: ``end - committed`` (``end - start`` when none is)."""
    member: str | None
    """``member_id`` of the member that owns the partition now; ``None``: nobody."""
    client_id: str | None
    host: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupStatus:
    group: str
    state: str
    members: tuple[Member, ...]
    partitions: tuple[PartitionStatus, ...]
    owners_inferred: bool = False
    """The broker reported no assignments (Tansu): the single member of the stable group
    was taken to own every partition asked about."""

    @property
    def total_lag(self) -> int:
        return sum(p.lag for p in self.partitions)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "total_lag": self.total_lag}


async def group_status(
    bootstrap: str,
    group: str,
    *,
    topics: Sequence[str] = (),
    client_options: Mapping[str, Any] | None = None,
    timeout: float = 10.0,
) -> GroupStatus:
    """The status of ``group`` on ``topics`` (default: the topics it committed or is assigned).

    ``client_options`` are aiokafka security arguments
    (:func:`~cqrs_worker.security.aiokafka_options`).
    """
    try:
        async with asyncio.timeout(timeout):
            async with KafkaAdmin(bootstrap, dict(client_options or {}), timeout) as admin:
                return await _status(admin, group, tuple(topics))
    except TimeoutError:
        raise ConfigurationError(
            f"Kafka at {bootstrap} did not answer within {timeout:g}s; check the bootstrap "
            f"address (CQRS_WORKER_KAFKA_BOOTSTRAP), that the brokers are up and reachable, "
            f"and the security settings (CQRS_WORKER_KAFKA_SECURITY_PROTOCOL)"
        ) from None


async def _status(admin: KafkaAdmin, group: str, topics: tuple[str, ...]) -> GroupStatus:
    state, members = await admin.describe_group(group)
    cluster = await admin.topic_partitions()
    missing = [topic for topic in topics if topic not in cluster]
    if missing:
        raise ConfigurationError(
            f"topic {', '.join(missing)} does not exist on Kafka at {admin.bootstrap}; "
            f"check --topics (or the app's event topics)"
        )
    asked = topics or tuple(cluster)
    partitions = [(topic, p) for topic in asked for p in cluster[topic]]
    committed = await admin.committed_offsets(group, partitions) if partitions else {}
    if not topics:  # the topics the group committed on or is assigned
        assigned = {topic for member in members for topic, _ in member.assignment}
        used = {topic for topic, _ in committed} | assigned
        partitions = [tp for tp in partitions if tp[0] in used]
    owners = partition_owners(state, members, partitions, committed)
    if not partitions:
        raise ConfigurationError(
            f"consumer group {group!r} has no members and no committed offsets (state "
            f"{state}): check the group id (--group / CQRS_WORKER_GROUP_ID), or name the "
            f"topics with --topics"
        )
    ends, starts = await admin.end_and_start_offsets(partitions)
    rows = []
    for tp in partitions:
        offset = committed.get(tp)
        owner = owners.get(tp)
        rows.append(
            PartitionStatus(
                topic=tp[0],
                partition=tp[1],
                committed=offset,
                end=ends[tp],
                lag=max(0, ends[tp] - (offset if offset is not None else starts[tp])),
                member=owner.member_id if owner else None,
                client_id=owner.client_id if owner else None,
                host=owner.client_host if owner else None,
            )
        )
    return GroupStatus(
        group=group,
        state=state,
        members=members,
        partitions=tuple(rows),
        owners_inferred=bool(owners) and not any(m.assignment for m in members),
    )


def partition_owners(
    state: str,
    members: tuple[Member, ...],
    partitions: list[TopicPartitionKey],
    committed: Mapping[TopicPartitionKey, int],
) -> dict[TopicPartitionKey, Member]:
    """Who owns each partition, from the members' assignments.

    Some brokers (Tansu 0.6) answer DescribeGroups without the assignments.
    Then the owner is taken to be the single member of a stable group, for
    the topics the group has committed on (it was assigned every partition
    of its subscription). That broker also keeps reporting a member that
    left until the group changes, so the result is flagged as inferred.
    """
    owned = {tp: m for m in members for tp in m.assignment}
    if any(m.assignment for m in members) or len(members) != 1 or state != "Stable":
        return owned
    consumed = {topic for topic, _ in committed}
    return {tp: members[0] for tp in partitions if tp[0] in consumed}

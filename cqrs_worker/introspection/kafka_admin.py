"""The few read-only Kafka requests ``cqrs-worker status`` makes: :class:`KafkaAdmin`.

An aiokafka admin client (groups, offsets, metadata) and a consumer without
a group (end offsets), both with the worker's security options. Nothing here
writes, commits or joins a group.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from aiokafka.errors import KafkaError

from cqrs_worker.errors import ConfigurationError

__all__ = ["KafkaAdmin", "Member", "TopicPartitionKey", "decode_member"]

TopicPartitionKey = tuple[str, int]


@dataclass(frozen=True, slots=True, kw_only=True)
class Member:
    """A group member as DescribeGroups reports it, with its decoded assignment."""

    member_id: str
    client_id: str
    client_host: str
    assignment: tuple[TopicPartitionKey, ...]


class KafkaAdmin:
    """Started on ``async with``; every failure to reach Kafka is a ``ConfigurationError``."""

    def __init__(self, bootstrap: str, options: dict[str, Any], timeout: float) -> None:
        self.bootstrap = bootstrap
        request_ms = max(1000, int(timeout * 1000))
        common = {"bootstrap_servers": bootstrap, "request_timeout_ms": request_ms, **options}
        self._admin = AIOKafkaAdminClient(client_id="cqrs-worker-status", **common)
        self._consumer = AIOKafkaConsumer(
            client_id="cqrs-worker-status",
            group_id=None,
            enable_auto_commit=False,
            **common,
        )

    async def __aenter__(self) -> Self:
        try:
            await self._admin.start()
            await self._consumer.start()
        except KafkaError as exc:
            await self._close()
            raise ConfigurationError(
                f"cannot reach Kafka at {self.bootstrap} ({_reason(exc)}); check the "
                f"bootstrap address (CQRS_WORKER_KAFKA_BOOTSTRAP), that the brokers are up, "
                f"and the security settings (CQRS_WORKER_KAFKA_SECURITY_PROTOCOL, ...)"
            ) from None
        except BaseException:
            await self._close()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._close()

    async def _close(self) -> None:
        with contextlib.suppress(Exception):
            await self._consumer.stop()
        with contextlib.suppress(Exception):
            await self._admin.close()

    async def describe_group(self, group: str) -> tuple[str, tuple[Member, ...]]:
        """The group's state and members (``Dead``/``Empty`` and none for an unused id)."""
        request = self._admin.describe_consumer_groups([group])
        responses = await self._ask(request, f"consumer group {group!r}")
        for response in responses:
            for found in response.to_object()["groups"]:
                if found["group"] != group:
                    continue
                if found["error_code"]:
                    raise ConfigurationError(
                        f"describing consumer group {group!r} failed (Kafka error code "
                        f"{found['error_code']}); check the group id and its ACLs"
                    )
                members = tuple(decode_member(m) for m in found["members"])
                return str(found["state"]), members
        return "Dead", ()

    async def committed_offsets(
        self, group: str, partitions: list[TopicPartitionKey]
    ) -> dict[TopicPartitionKey, int]:
        """Committed offsets of ``group`` on ``partitions`` (those without one left out).

        The partitions are always named: asking for "every partition of the
        group" (a null topic list) makes Tansu drop the connection.
        """
        tps = [TopicPartition(t, p) for t, p in partitions]
        request = self._admin.list_consumer_group_offsets(group, partitions=tps)
        offsets = await self._ask(request, f"the offsets of group {group!r}")
        return {
            (tp.topic, tp.partition): meta.offset
            for tp, meta in offsets.items()
            if meta.offset >= 0
        }

    async def topic_partitions(self) -> dict[str, list[int]]:
        """Every (non-internal) topic with its partition numbers.

        Metadata for *all* topics, rather than for named ones: a Metadata
        request that names a missing topic may create it (auto-creation),
        and asking must never change the cluster.
        """
        described = await self._ask(self._admin.describe_topics(None), "the topic metadata")
        return {
            topic["topic"]: sorted(p["partition"] for p in topic["partitions"])
            for topic in described
            if not topic["error_code"]
            and not topic["is_internal"]
            and not topic["topic"].startswith("__")
        }

    async def end_and_start_offsets(
        self, partitions: list[TopicPartitionKey]
    ) -> tuple[dict[TopicPartitionKey, int], dict[TopicPartitionKey, int]]:
        """End offsets (high watermarks) and log start offsets of ``partitions``."""
        tps = [TopicPartition(t, p) for t, p in partitions]
        ends = await self._ask(self._consumer.end_offsets(tps), "end offsets")
        starts = await self._ask(self._consumer.beginning_offsets(tps), "start offsets")
        return (
            {(tp.topic, tp.partition): int(offset) for tp, offset in ends.items()},
            {(tp.topic, tp.partition): int(offset) for tp, offset in starts.items()},
        )

    async def _ask(self, request: Any, what: str) -> Any:
        try:
            return await request
        except KafkaError as exc:
            raise ConfigurationError(
                f"Kafka at {self.bootstrap} did not answer the request for {what} ({_reason(exc)})"
            ) from None


def _reason(exc: KafkaError) -> str:
    """``Type: message`` once (aiokafka's messages often repeat the type)."""
    name = type(exc).__name__
    text = str(exc).removeprefix(f"{name}: ").strip()
    return f"{name}: {text}" if text and text != name else name


def decode_member(raw: dict[str, Any]) -> Member:
    assignment: tuple[TopicPartitionKey, ...] = ()
    if raw["member_assignment"]:
        decoded = ConsumerProtocolMemberAssignment.decode(raw["member_assignment"])
        assignment = tuple(sorted((tp.topic, tp.partition) for tp in decoded.partitions()))
    return Member(
        member_id=raw["member_id"],
        client_id=raw["client_id"],
        client_host=raw["client_host"],
        assignment=assignment,
    )

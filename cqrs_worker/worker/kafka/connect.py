"""Subscribing through FastStream and starting the consumer within a bounded time.

FastStream's :class:`~faststream.kafka.KafkaBroker` owns the consumer's
configuration and lifecycle (and lists the subscription in AsyncAPI); the
subscriber is registered *without* a handler, so FastStream starts no consume
task and :class:`~cqrs_worker.worker.kafka.source.KafkaSource` drives the
fetch loop. ``AckPolicy.MANUAL`` keeps auto-commit off: offsets are committed
only by our :class:`~cqrs_worker.worker.kafka.committer.Committer`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    KafkaError,
    TopicAuthorizationFailedError,
    UnknownTopicOrPartitionError,
)
from faststream import AckPolicy
from faststream.kafka import KafkaBroker

from cqrs_worker.errors import ConfigurationError
from cqrs_worker.security.tls import tls_failure
from cqrs_worker.worker.kafka.rebalance import RebalanceListener

__all__ = [
    "RESERVED_OPTIONS",
    "build_broker",
    "coordinator_known",
    "group_timeouts",
    "start_consumer",
    "subscribe",
]

logger = logging.getLogger(__name__)

#: Consumer options the source sets itself: overriding them would break the contract.
RESERVED_OPTIONS = frozenset(
    {
        "ack_policy",
        "auto_commit_interval_ms",
        "batch",
        "enable_auto_commit",
        "group_id",
        "group_instance_id",
        "listener",
        "max_records",
        "partitions",
        "pattern",
    }
)

_SASL_HINT = (
    "with SASL on, also check CQRS_WORKER_KAFKA_SECURITY_PROTOCOL and "
    "CQRS_WORKER_KAFKA_SASL_MECHANISM against the listener's (a mechanism the "
    "brokers do not enable refuses the connection), and the credentials"
)
_BOOTSTRAP_HINT = (
    "check the bootstrap address (CQRS_WORKER_KAFKA_BOOTSTRAP, host:port[,host:port]), "
    "that the brokers are up and reachable from here, and their advertised listeners"
)


def build_broker(bootstrap: str, options: Mapping[str, Any]) -> KafkaBroker:
    """A consumer-only FastStream broker: no producer, no admin client, no topic creation."""
    try:
        return KafkaBroker(
            bootstrap,
            consumer_only=True,
            allow_auto_create_topics=False,
            logger=None,
            **options,
        )
    except TypeError as exc:
        raise ConfigurationError(f"invalid Kafka broker option: {exc}") from exc


def subscribe(
    broker: KafkaBroker,
    topics: Sequence[str],
    *,
    group_id: str,
    instance_id: str | None,
    listener: RebalanceListener,
    batch_size: int,
    options: Mapping[str, Any],
) -> Any:
    """Register the handler-less subscriber; returns it (its ``consumer`` exists once started)."""
    reserved = sorted(RESERVED_OPTIONS.intersection(options))
    if reserved:
        raise ConfigurationError(
            f"consumer option(s) {', '.join(reserved)} are set by the worker itself "
            f"(manual commits, our rebalance listener); remove them from consumer_options"
        )
    settings: dict[str, Any] = {"auto_offset_reset": "earliest", **options}
    try:
        return broker.subscriber(
            *topics,
            batch=True,
            group_id=group_id,
            group_instance_id=instance_id,
            ack_policy=AckPolicy.MANUAL,
            listener=listener,
            max_records=batch_size,
            **settings,
        )
    except TypeError as exc:
        raise ConfigurationError(f"invalid Kafka consumer option: {exc}") from exc


async def start_consumer(
    broker: KafkaBroker,
    subscriber: Any,
    listener: RebalanceListener,
    *,
    bootstrap: str,
    group_id: str,
    topics: Sequence[str],
    timeout: float,
    tls: ssl.SSLContext | None = None,
    sasl: bool = False,
) -> Any:
    """Start ``broker`` (connect, join the group, get partitions) within ``timeout`` seconds.

    Returns the started aiokafka consumer. Raises
    :class:`~cqrs_worker.errors.ConfigurationError` saying what to check; the
    broker is stopped again on failure. ``tls`` (the consumer's TLS context)
    turns a failed connection into the TLS reason, when that is the cause;
    with ``sasl`` the message also points at the SASL settings.
    """
    try:
        async with asyncio.timeout(timeout):
            await broker.start()
    except BaseException as exc:
        await _stop_quietly(broker)
        if isinstance(exc, KafkaConnectionError | OSError) and tls is not None:
            reason = await _tls_reason(bootstrap, tls)
            if reason is not None:
                raise ConfigurationError(
                    f"TLS with Kafka at {bootstrap} failed ({reason}); check "
                    f"CQRS_WORKER_KAFKA_SSL_CAFILE (the CA that signed the brokers' "
                    f"certificates) and, if the brokers require a client certificate, "
                    f"CQRS_WORKER_KAFKA_SSL_CERTFILE and _KEYFILE"
                ) from exc
        if isinstance(exc, Exception):
            explained = _explain(exc, listener, bootstrap, group_id, topics, timeout)
            if sasl and isinstance(exc, KafkaConnectionError):
                explained = ConfigurationError(f"{explained}; {_SASL_HINT}")
            raise explained from exc
        raise
    return subscriber.consumer


async def _tls_reason(bootstrap: str, tls: ssl.SSLContext) -> str | None:
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    if not host or not port.isdigit():
        return None
    return await tls_failure(host.strip("[]"), int(port), tls, timeout=5.0)


def _explain(
    exc: Exception,
    listener: RebalanceListener,
    bootstrap: str,
    group_id: str,
    topics: Sequence[str],
    timeout: float,
) -> ConfigurationError:
    names = ", ".join(topics)
    if isinstance(exc, TimeoutError):
        if listener.joining:
            return ConfigurationError(
                f"connected to Kafka at {bootstrap} but consumer group {group_id!r} gave this "
                f"worker no partitions within {timeout:.0f}s; check that the group's other "
                f"members are healthy, that no other worker uses the same instance id, and the "
                f"session and rebalance timeouts"
            )
        return ConfigurationError(
            f"Kafka at {bootstrap} did not answer within {timeout:.0f}s (or topic(s) {names} "
            f"never appeared); {_BOOTSTRAP_HINT}, and that the topics exist"
        )
    if isinstance(exc, KafkaConnectionError | OSError):
        return ConfigurationError(
            f"cannot connect to Kafka at {bootstrap} ({exc}); {_BOOTSTRAP_HINT}"
        )
    if isinstance(exc, UnknownTopicOrPartitionError):
        return ConfigurationError(
            f"topic(s) {names} not found on Kafka at {bootstrap}; create them (see "
            f"`kafka-topics --create`) or fix the topic list (CQRS_WORKER_TOPICS)"
        )
    if isinstance(exc, TopicAuthorizationFailedError | GroupAuthorizationFailedError):
        return ConfigurationError(
            f"Kafka at {bootstrap} refused this worker access to topic(s) {names} or group "
            f"{group_id!r} ({type(exc).__name__}); check the credentials and ACLs"
        )
    if isinstance(exc, KafkaError):
        return ConfigurationError(
            f"the Kafka consumer for group {group_id!r} at {bootstrap} failed to start "
            f"({type(exc).__name__}: {exc}); {_BOOTSTRAP_HINT}"
        )
    return ConfigurationError(
        f"the Kafka consumer for group {group_id!r} at {bootstrap} failed to start "
        f"({type(exc).__name__}: {exc}); check the Kafka consumer options"
    )


async def _stop_quietly(broker: KafkaBroker) -> None:
    with contextlib.suppress(Exception):
        async with asyncio.timeout(5.0):
            await broker.stop()


def group_timeouts(drain_timeout: float | None, options: Mapping[str, Any]) -> tuple[float, float]:
    """The revoke drain timeout and the stall timeout (seconds) that fit ``options``.

    A revoke must drain within the rebalance timeout (``rebalance_timeout_ms``,
    else ``session_timeout_ms``), or the member is dropped from the group:
    the drain defaults to half of it. Waiting for room without polling must
    end well inside ``max_poll_interval_ms``: a quarter of it, at most 5 s.
    """
    rebalance_ms = options.get("rebalance_timeout_ms") or options.get("session_timeout_ms", 10_000)
    rebalance = float(rebalance_ms) / 1000
    stall = min(5.0, float(options.get("max_poll_interval_ms", 300_000)) / 4000)
    if drain_timeout is None:
        return rebalance / 2, stall
    if drain_timeout >= rebalance:
        raise ConfigurationError(
            f"drain_timeout ({drain_timeout}s) must be below the rebalance timeout "
            f"({rebalance:.1f}s, rebalance_timeout_ms or else session_timeout_ms): a member "
            f"that drains longer is dropped from the group"
        )
    return drain_timeout, stall


def coordinator_known(consumer: Any) -> bool:
    """Whether the consumer knows its group coordinator (it is connected to the group).

    aiokafka has no public "connected" signal; it forgets the coordinator when
    the connection to it fails and finds it again once it is back. This reads
    that private state (checked by the R10 outage test on every upgrade).
    """
    coordinator = getattr(consumer, "_coordinator", None)
    return getattr(coordinator, "coordinator_id", 0) is not None

"""The worker's settings: :class:`WorkerSettings`, read once, from code, flags or ``CQRS_WORKER_*``.

Precedence, highest first: ``cqrs-worker run`` flags, values passed in code,
environment variables (``CQRS_WORKER_KAFKA_BOOTSTRAP=kafka:9092``), the
defaults. Lists (``TOPICS``, ``QUEUES``) are comma-separated in the
environment. Every value is validated when the settings are built, so a typo
fails at start-up with the variable's name, not mid-run.
"""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import pydantic
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from cqrs_worker.errors import ConfigurationError
from cqrs_worker.security import SECRET, KafkaSecuritySettings, RabbitMQTLSSettings, describe_input
from cqrs_worker.worker.ordering import Ordering, parse_ordering_key
from cqrs_worker.worker.pipeline import UnknownEventPolicy
from cqrs_worker.worker.retry_stages import parse_delays

__all__ = [
    "ENV_PREFIX",
    "LogFormat",
    "WorkerSettings",
    "describe_errors",
    "env_name",
    "load_settings",
]

ENV_PREFIX = "CQRS_WORKER_"

LogFormat = Literal["text", "json"]
LogLevel = Literal["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"]
NameList = Annotated[tuple[str, ...], NoDecode]
_NO_LIMIT = ("0", "none", "off")


def env_name(field: str) -> str:
    """The environment variable of a setting: ``group_id`` -> ``CQRS_WORKER_GROUP_ID``."""
    return f"{ENV_PREFIX}{field.upper()}"


# The security settings (Kafka TLS/SASL, RabbitMQ TLS, ``_FILE`` secrets and
# their redaction) are base classes from cqrs_worker.security, so their fields
# are worker settings like any other (CQRS_WORKER_KAFKA_SECURITY_PROTOCOL,
# --kafka-ssl-cafile, ...) without being listed here.
class WorkerSettings(KafkaSecuritySettings, RabbitMQTLSSettings, BaseSettings):
    """Where to consume from and how; every field is also ``CQRS_WORKER_<NAME>``.

    Give ``kafka_bootstrap``, ``rabbitmq_url`` or both. Topics default to the
    ``topic`` of every event class bound in the EventMap; RabbitMQ binds one
    durable queue per topic (its routing key) unless ``queues`` names them.
    Secrets (``rabbitmq_url``, passwords) may come from files
    (``CQRS_WORKER_<NAME>_FILE``) and never show in ``repr`` or errors.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        frozen=True,
        extra="forbid",
        validate_default=True,
        use_attribute_docstrings=True,
        arbitrary_types_allowed=True,  # the OAUTHBEARER token provider object
    )

    # -- brokers ----------------------------------------------------------
    kafka_bootstrap: str | None = None
    """Kafka bootstrap servers, ``host:port[,host:port...]``."""
    rabbitmq_url: Annotated[str | None, SECRET] = None
    """AMQP URL, e.g. ``amqp://user:pass@rabbitmq:5672/vhost``."""
    group_id: str | None = None
    """Kafka consumer group (required with Kafka); also the RabbitMQ queue prefix."""
    topics: NameList = ()
    """Kafka topics (and RabbitMQ routing keys); empty: the EventMap's topics."""
    queues: NameList = ()
    """RabbitMQ queues to consume; empty: ``<group_id>.<topic>`` per topic."""
    rabbitmq_exchange: str = "cqrs.events"
    """The topic exchange events are published to."""
    rabbitmq_reconnect_interval: float = pydantic.Field(default=5.0, gt=0)
    """Seconds between attempts to reconnect to RabbitMQ after the connection was lost."""

    # -- throughput and order ---------------------------------------------
    concurrency: int = pydantic.Field(default=64, ge=1, le=100_000)
    """Deliveries handled at once (different keys; one key is serial unless ``ordering``
    is ``unordered``); one waiting between two retry attempts holds no slot."""
    ordering: Ordering = "key"
    """What runs in order: ``key`` (per message key; keyless messages per partition or
    queue), ``partition`` (everything per partition or queue) or ``unordered`` (nothing:
    up to ``concurrency`` at once; Kafka commits only up to the lowest unfinished offset)."""
    ordering_key: str | None = None
    """Where a message without a key finds one (``key`` ordering): ``partition_key`` (the
    envelope's field) or ``payload.<field>``. Unset: keyless messages run per partition."""
    batch_size: int = pydantic.Field(default=1000, ge=1, le=100_000)
    """Kafka records fetched per poll."""
    batch_handler_max: int = pydantic.Field(default=500, ge=1, le=100_000)
    """Events per call of a handler's ``handle_batch`` (one lane's queued ones); 1: off."""
    prefetch: int = pydantic.Field(default=256, ge=1, le=65_535)
    """RabbitMQ unacknowledged deliveries in flight per queue."""
    max_message_bytes: int | None = pydantic.Field(default=1_048_576, ge=1)
    """Bodies over this size are dead-lettered unread; ``0``, ``none`` or ``off``: no limit."""

    # -- failures ---------------------------------------------------------
    max_attempts: int = pydantic.Field(default=5, ge=1)
    """Attempts per delivery before it is dead-lettered."""
    retry_initial_delay: float = pydantic.Field(default=0.2, ge=0)
    """Seconds before the second attempt; doubles per attempt (with jitter)."""
    retry_max_delay: float = pydantic.Field(default=30.0, ge=0)
    """Cap on the delay between attempts, in seconds."""
    retry_topics: Annotated[tuple[float, ...], NoDecode] = ()
    """Delayed retry stages after the in-place attempts, e.g. ``5s,30s,5m``: Kafka topics
    ``<topic>.retry.<delay>``, RabbitMQ delay queues ``<queue>.retry.<delay>``. Empty: off."""
    dlq_suffix: str = pydantic.Field(default=".dlq", min_length=1)
    """Kafka dead-letter topic is ``<topic><dlq_suffix>``."""
    kafka_idempotence: bool = True
    """Idempotent Kafka producer for dead letters; off for brokers without producer ids (Tansu)."""
    on_unknown_event: UnknownEventPolicy = "ack"
    """An event name nobody here handles: ``ack`` (count it) or ``dead-letter``."""
    handler_timeout: float | None = pydantic.Field(default=None, gt=0)
    """Seconds one handling attempt may take before it is cancelled and retried (reason
    ``timeout``); a handler class may set its own ``handler_timeout``. None: no limit."""

    # -- Kafka group membership -------------------------------------------
    instance_id: str | None = None
    """Static group membership id (e.g. the StatefulSet pod name)."""
    static_membership: bool = False
    """Without ``instance_id``, use ``POD_NAME`` (else ``HOSTNAME``) as the instance id."""
    session_timeout_ms: int = pydantic.Field(default=10_000, ge=1)
    """A member silent this long leaves the group (its partitions move)."""
    heartbeat_interval_ms: int = pydantic.Field(default=3_000, ge=1)
    """How often the consumer tells the group it is alive; below ``session_timeout_ms``."""
    max_poll_interval_ms: int = pydantic.Field(default=300_000, ge=1)
    """Longest pause between fetches before the group drops the member."""

    # -- process ----------------------------------------------------------
    shutdown_timeout: float = pydantic.Field(default=30.0, ge=0)
    """Seconds in-flight work may take to finish after SIGTERM."""
    liveness_stuck_after: float | None = pydantic.Field(default=None, gt=0)
    """/livez fails while a handling attempt has run longer than this many seconds, so
    Kubernetes restarts a wedged process. None: never."""
    health_port: int = pydantic.Field(default=8080, ge=0, le=65_535)
    """HTTP port of /livez, /readyz and /metrics; 0 turns the server off."""
    health_host: str = "0.0.0.0"
    """Interface the health server binds (all, so the kubelet reaches it)."""
    log_level: LogLevel = "INFO"
    """Logging level of the ``cqrs-worker`` command."""
    log_format: LogFormat = "text"
    """``text`` lines or ``json`` objects, one per line."""
    worker_id: str | None = None
    """Names this process in dead-letter headers and logs; default ``<host>-<pid>``."""

    @pydantic.field_validator("topics", "queues", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @pydantic.field_validator("max_message_bytes", mode="before")
    @classmethod
    def _no_limit(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in _NO_LIMIT:
            return None
        return None if value == 0 else value

    @pydantic.field_validator("rabbitmq_url")
    @classmethod
    def _amqp_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return value
        parts = urlsplit(value.strip())
        if parts.scheme not in ("amqp", "amqps") or not parts.hostname:
            raise ValueError(
                "expected an AMQP URL, amqp://<user>:<password>@<host>:5672/<vhost> "
                "(amqps:// for TLS)"
            )
        return value

    @pydantic.field_validator("retry_topics", mode="before")
    @classmethod
    def _delays(cls, value: object) -> object:
        if isinstance(value, (str, list, tuple)):
            return parse_delays(value)
        return value

    @pydantic.field_validator("ordering_key")
    @classmethod
    def _ordering_key(cls, value: str | None) -> str | None:
        parse_ordering_key(value)  # raises ValueError with what is expected
        return value.strip() or None if value is not None else None

    @pydantic.field_validator("ordering", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @pydantic.field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @pydantic.field_validator("kafka_bootstrap", "rabbitmq_url", "group_id", "instance_id")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @pydantic.model_validator(mode="after")
    def _consistent(self) -> WorkerSettings:
        if self.retry_max_delay < self.retry_initial_delay:
            raise ValueError("retry_max_delay must be at least retry_initial_delay")
        if self.heartbeat_interval_ms >= self.session_timeout_ms:
            raise ValueError("heartbeat_interval_ms must be below session_timeout_ms")
        return self

    @property
    def group_instance_id(self) -> str | None:
        """The Kafka ``group.instance.id`` to use, if static membership is on."""
        if self.instance_id is not None:
            return self.instance_id
        if self.static_membership:
            return os.environ.get("POD_NAME") or os.environ.get("HOSTNAME") or None
        return None


def load_settings(**values: Any) -> WorkerSettings:
    """:class:`WorkerSettings` from ``values`` over the environment.

    Raises :class:`~cqrs_worker.errors.ConfigurationError` listing each bad
    value with its environment variable and flag, e.g.
    ``CQRS_WORKER_CONCURRENCY (--concurrency): Input should be greater than
    or equal to 1, got '0'``.
    """
    try:
        return WorkerSettings(**values)
    except pydantic.ValidationError as exc:
        raise ConfigurationError(describe_errors(exc)) from None


def describe_errors(exc: pydantic.ValidationError) -> str:
    """Every invalid setting on one line, naming its variable and flag (passwords hidden)."""
    parts = []
    for error in exc.errors(include_url=False):
        field = str(error["loc"][0]) if error["loc"] else ""
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            parts.append(f"{field!r} is not a worker setting")
        elif field in WorkerSettings.model_fields:
            flag = field.replace("_", "-")
            shown = describe_input(WorkerSettings, field, error["input"])
            parts.append(f"{env_name(field)} (--{flag}): {message}, got {shown}")
        else:
            parts.append(message)
    return "invalid worker settings: " + "; ".join(parts)

"""Reaching secured brokers, and keeping their secrets out of sight.

* :class:`KafkaSecuritySettings` -- Kafka TLS and SASL (PLAIN, SCRAM,
  OAUTHBEARER through a :class:`TokenProvider`); :func:`aiokafka_options` and
  :func:`faststream_options` turn them into client arguments.
* :class:`RabbitMQTLSSettings` -- CA and client certificate for ``amqps://``;
  :func:`amqp_ssl_context`.
* ``CQRS_WORKER_<NAME>_FILE`` for every secret setting
  (:class:`SecretSettings`, :data:`SECRET`), and :func:`redact_url` for
  URLs and DSNs in messages.

The worker's settings include both settings classes; the publishers read
them from the environment when they are not given in code.
"""

from __future__ import annotations

from cqrs_worker.security.errors import describe_input, describe_settings_errors
from cqrs_worker.security.kafka import (
    AIOKAFKA_SECURITY_OPTIONS,
    KafkaSecuritySettings,
    aiokafka_options,
    faststream_options,
    load_kafka_security,
)
from cqrs_worker.security.rabbitmq import RabbitMQTLSSettings, amqp_ssl_context, load_rabbitmq_tls
from cqrs_worker.security.redaction import redact_url
from cqrs_worker.security.secret_files import SECRET, SecretSettings, secret_file_variables
from cqrs_worker.security.token import TokenProvider, load_token_provider

__all__ = [
    "AIOKAFKA_SECURITY_OPTIONS",
    "SECRET",
    "KafkaSecuritySettings",
    "RabbitMQTLSSettings",
    "SecretSettings",
    "TokenProvider",
    "aiokafka_options",
    "amqp_ssl_context",
    "describe_input",
    "describe_settings_errors",
    "faststream_options",
    "load_kafka_security",
    "load_rabbitmq_tls",
    "load_token_provider",
    "redact_url",
    "secret_file_variables",
]

"""AsyncAPI servers and security schemes from the worker settings, with no secret in them.

A server is a host and port (never a user or password; a RabbitMQ URL gives
its vhost as ``pathname``); the security scheme says *how* clients
authenticate (SASL mechanism, client certificate, user and password), not
with what.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

from cqrs_worker.worker.settings import WorkerSettings

__all__ = ["kafka_servers", "rabbitmq_servers"]

_SASL_SCHEMES: dict[str, dict[str, Any]] = {
    "PLAIN": {"type": "plain", "description": "SASL PLAIN (CQRS_WORKER_KAFKA_SASL_*)"},
    "SCRAM-SHA-256": {"type": "scramSha256", "description": "SASL SCRAM-SHA-256"},
    "SCRAM-SHA-512": {"type": "scramSha512", "description": "SASL SCRAM-SHA-512"},
    "OAUTHBEARER": {
        "type": "oauth2",
        "flows": {},
        "description": "SASL OAUTHBEARER (CQRS_WORKER_KAFKA_SASL_OAUTH_TOKEN_PROVIDER)",
    },
}


def kafka_servers(settings: WorkerSettings) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(servers, security schemes)`` for ``kafka_bootstrap``; empty when it is not set."""
    if settings.kafka_bootstrap is None:
        return {}, {}
    hosts = [h.strip() for h in settings.kafka_bootstrap.split(",") if h.strip()]
    tls = settings.kafka_security_protocol in ("SSL", "SASL_SSL")
    schemes: dict[str, Any] = {}
    mechanism = settings.kafka_sasl_mechanism
    if settings.kafka_security_protocol.startswith("SASL_") and mechanism is not None:
        schemes["kafka-sasl"] = dict(_SASL_SCHEMES[mechanism])
    if tls and settings.kafka_ssl_certfile is not None:
        schemes["kafka-client-certificate"] = {
            "type": "X509",
            "description": "mutual TLS (CQRS_WORKER_KAFKA_SSL_CERTFILE)",
        }
    servers: dict[str, Any] = {}
    for n, host in enumerate(hosts, start=1):
        server: dict[str, Any] = {
            "host": _without_credentials(host),
            "protocol": "kafka-secure" if tls else "kafka",
            "description": f"Kafka bootstrap server ({settings.kafka_security_protocol})",
        }
        if schemes:
            server["security"] = [{"$ref": f"#/components/securitySchemes/{k}"} for k in schemes]
        servers["kafka" if len(hosts) == 1 else f"kafka-{n}"] = server
    return servers, schemes


def rabbitmq_servers(settings: WorkerSettings) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(servers, security schemes)`` for ``rabbitmq_url``; empty when it is not set."""
    if settings.rabbitmq_url is None:
        return {}, {}
    try:
        parts = urlsplit(settings.rabbitmq_url)
        host, port, user = parts.hostname or "localhost", parts.port, parts.username
    except ValueError:  # a malformed URL: say nothing rather than risk the password
        return {}, {}
    secure = parts.scheme.lower() == "amqps"
    server: dict[str, Any] = {
        "host": f"{host}:{port or (5671 if secure else 5672)}",
        "protocol": "amqps" if secure else "amqp",
        "pathname": "/" + unquote(parts.path.removeprefix("/")),
        "description": f"RabbitMQ; events arrive through {settings.rabbitmq_exchange!r}",
    }
    schemes: dict[str, Any] = {}
    if user:
        schemes["rabbitmq-user-password"] = {
            "type": "userPassword",
            "description": "user and password of CQRS_WORKER_RABBITMQ_URL",
        }
    if secure and settings.rabbitmq_ssl_certfile is not None:
        schemes["rabbitmq-client-certificate"] = {
            "type": "X509",
            "description": "mutual TLS (CQRS_WORKER_RABBITMQ_SSL_CERTFILE)",
        }
    if schemes:
        server["security"] = [{"$ref": f"#/components/securitySchemes/{k}"} for k in schemes]
    return {"rabbitmq": server}, schemes


def _without_credentials(host: str) -> str:
    """A bootstrap entry never holds credentials, but a pasted URL might."""
    netloc = urlsplit(host).netloc if "://" in host else host
    return netloc.rpartition("@")[2]

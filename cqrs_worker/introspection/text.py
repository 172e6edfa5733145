"""``cqrs-worker describe`` as text for a terminal: :func:`render_description`."""

from __future__ import annotations

import json

from cqrs_worker.introspection.description import (
    EventDescription,
    HandlerDescription,
    RetryDescription,
    WorkerDescription,
)

__all__ = ["render_description"]


def render_description(description: WorkerDescription) -> str:
    """The description in a few aligned sections (the same facts as ``--json``)."""
    lines = [f"worker {description.target or '?'} (id {description.worker_id})", ""]
    lines += _destinations(description)
    lines += ["", "events (event name -> handlers, run in this order):"]
    lines += [line for event in description.events for line in _event(event)] or ["  none"]
    if description.in_process_events:
        lines += ["", "in-process events (DomainEvent, dispatched when a handler emits one):"]
        lines += [line for event in description.in_process_events for line in _event(event)]
    lines += [
        "",
        f"retry policy (worker): {_retry(description.retry_policy)}",
        f"handler timeout (HANDLER_TIMEOUT): {_seconds(description.handler_timeout)}",
        "liveness stuck after (LIVENESS_STUCK_AFTER): "
        + _seconds(description.liveness_stuck_after),
        f"unknown events (ON_UNKNOWN_EVENT): {description.on_unknown_event}",
        "middlewares (around each attempt, outermost first): "
        + (", ".join(description.middlewares) or "none"),
        "",
        "settings in effect (secrets redacted):",
    ]
    width = max((len(s.variable) for s in description.settings), default=0)
    for setting in description.settings:
        value = "-" if setting.value is None else json.dumps(setting.value)
        lines.append(f"  {setting.variable:<{width}}  {value}  ({setting.source})")
    return "\n".join(lines) + "\n"


def _destinations(description: WorkerDescription) -> list[str]:
    places = description.destinations
    lines = [f"topics: {', '.join(places.topics)}"]
    if places.kafka is not None:
        kafka = places.kafka
        lines += [
            f"kafka: {kafka.bootstrap} ({kafka.security_protocol}), "
            f"group {kafka.group_id or '- (set CQRS_WORKER_GROUP_ID)'}",
            f"  dead letters: {', '.join(kafka.dead_letter_topics)}",
        ]
    if places.rabbitmq is not None:
        rabbit = places.rabbitmq
        lines.append(
            f"rabbitmq: {rabbit.url}, exchange {rabbit.exchange}, "
            f"dead-letter exchange {rabbit.dead_letter_exchange}"
        )
        for queue in rabbit.queues:
            lines.append(
                f"  queue {queue.name} <- {', '.join(queue.routing_keys)} "
                f"(dead letters: {queue.dead_letter_queue})"
            )
        if not rabbit.queues:
            lines.append("  no queues: set CQRS_WORKER_GROUP_ID or CQRS_WORKER_QUEUES")
    if places.kafka is None and places.rabbitmq is None:
        lines.append("no broker configured (CQRS_WORKER_KAFKA_BOOTSTRAP, CQRS_WORKER_RABBITMQ_URL)")
    return lines


def _event(event: EventDescription) -> list[str]:
    where = f"topic {event.topic}" if event.topic else "no default topic"
    head = f"  {event.event_name or '-'} ({event.event_class}; {where}; "
    head += f"attempt timeout {_seconds(event.attempt_timeout)})"
    return [head, *(_handler(handler) for handler in event.handlers)]


def _handler(handler: HandlerDescription) -> str:
    retry = _retry(handler.retry_policy) if handler.retry_policy else "the worker's"
    timeout = _seconds(handler.handler_timeout)
    if handler.timeout_from == "worker":
        timeout = f"the worker's ({timeout})"
    return f"    -> {handler.name} [retry: {retry}; timeout: {timeout}]"


def _retry(policy: RetryDescription) -> str:
    text = (
        f"{policy.max_attempts} attempts, delay {policy.initial_delay:g}s x{policy.multiplier:g} "
        f"up to {policy.max_delay:g}s, jitter {policy.jitter:.0%}"
    )
    if policy.permanent:
        text += f", never retried: {', '.join(policy.permanent)}"
    if policy.retryable is not None:
        text += f", retried only: {', '.join(policy.retryable) or 'nothing'}"
    return text


def _seconds(value: float | None) -> str:
    return "none" if value is None else f"{value:g}s"

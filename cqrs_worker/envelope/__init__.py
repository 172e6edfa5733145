"""The wire format of broker events: :class:`EnvelopeCodec` and its registry."""

from cqrs_worker.envelope.codec import (
    CONTENT_TYPE,
    CONTENT_TYPE_HEADER,
    EVENT_ID_HEADER,
    EVENT_NAME_HEADER,
    EnvelopeCodec,
    encode_event,
    event_headers,
)
from cqrs_worker.envelope.registry import EventRegistry

__all__ = [
    "CONTENT_TYPE",
    "CONTENT_TYPE_HEADER",
    "EVENT_ID_HEADER",
    "EVENT_NAME_HEADER",
    "EnvelopeCodec",
    "EventRegistry",
    "encode_event",
    "event_headers",
]

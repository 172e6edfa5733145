"""python-cqrs's module path ``cqrs.handlers`` (see :mod:`cqrs_worker.compat`)."""

from cqrs_worker.chain import CORRequestHandler
from cqrs_worker.events import EventHandler
from cqrs_worker.requests import RequestHandler
from cqrs_worker.streaming_mediator import StreamingRequestHandler

__all__ = ["CORRequestHandler", "EventHandler", "RequestHandler", "StreamingRequestHandler"]

"""python-cqrs's module path ``cqrs.mediator`` (see :mod:`cqrs_worker.compat`)."""

from cqrs_worker.compat.mediators import RequestMediator, StreamingRequestMediator

__all__ = ["RequestMediator", "StreamingRequestMediator"]

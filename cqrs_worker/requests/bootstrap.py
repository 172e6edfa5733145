"""python-cqrs's module path ``cqrs.requests.bootstrap`` (see :mod:`cqrs_worker.compat`)."""

from cqrs_worker.compat.mediators import bootstrap_requests as bootstrap

__all__ = ["bootstrap"]

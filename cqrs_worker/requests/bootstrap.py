"""python-cqrs's module path ``cqrs.requests.bootstrap`` (see :mod:`cqrs_worker.compat`)."""

from cqrs_worker.compat.mediators import bootstrap_requests as bootstrap
from cqrs_worker.compat.mediators import bootstrap_streaming

__all__ = ["bootstrap", "bootstrap_streaming"]

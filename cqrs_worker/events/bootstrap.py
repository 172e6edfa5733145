"""python-cqrs's module path ``cqrs.events.bootstrap`` (see :mod:`cqrs_worker.compat`)."""

from cqrs_worker.compat.mediators import bootstrap_events as bootstrap

__all__ = ["bootstrap"]

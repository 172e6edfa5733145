"""python-cqrs's module path ``cqrs.handlers.cor`` (see :mod:`cqrs_worker.compat`)."""

from cqrs_worker.chain import CORRequestHandler, build_chain

__all__ = ["CORRequestHandler", "build_chain"]

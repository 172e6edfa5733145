"""python-cqrs's module path ``cqrs.mermaid`` (see :mod:`cqrs_worker.compat`)."""

from cqrs_worker.chain.mermaid import CoRMermaid

__all__ = ["CoRMermaid"]

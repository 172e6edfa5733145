"""python-cqrs's package path ``cqrs.compressors`` (see :mod:`cqrs_worker.compat`)."""

from cqrs_worker.compat.outbox import ZlibCompressor

__all__ = ["ZlibCompressor"]

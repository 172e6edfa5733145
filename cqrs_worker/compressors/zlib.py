"""python-cqrs's module path ``cqrs.compressors.zlib`` (see :mod:`cqrs_worker.compat`)."""

from cqrs_worker.compat.outbox import ZlibCompressor

__all__ = ["ZlibCompressor"]

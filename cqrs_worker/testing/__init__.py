"""A test kit for your own handlers: the real worker pipeline, in memory.

See :func:`run_worker_in_memory`; for FastStream's test brokers, see
:mod:`cqrs_worker.contrib.faststream`.
"""

from cqrs_worker.testing.harness import WorkerHarness, run_worker_in_memory

__all__ = ["WorkerHarness", "run_worker_in_memory"]

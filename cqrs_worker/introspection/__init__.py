"""Looking at a worker without running it, and at its consumer group while it runs.

* :func:`describe_worker` -- topics/queues, event names and their handlers,
  retry policies, time limits, middlewares and the settings in effect
  (secrets redacted); :func:`render_description` prints it.
* :func:`build_asyncapi` -- an AsyncAPI 3.0 document of what the worker
  consumes, from the EventMap and the pydantic models.
* :func:`group_status` -- per partition of a Kafka consumer group: committed
  offset, end offset, lag and the member that owns it (the only part that
  talks to a broker).

The ``cqrs-worker describe``, ``asyncapi`` and ``status`` commands print them.
"""

from __future__ import annotations

from cqrs_worker.introspection.asyncapi import build_asyncapi
from cqrs_worker.introspection.description import WorkerDescription, describe_worker
from cqrs_worker.introspection.group_status import GroupStatus, PartitionStatus, group_status
from cqrs_worker.introspection.text import render_description

__all__ = [
    "GroupStatus",
    "PartitionStatus",
    "WorkerDescription",
    "build_asyncapi",
    "describe_worker",
    "group_status",
    "render_description",
]

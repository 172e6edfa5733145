"""Running several worker processes under one command: ``cqrs-worker run --workers N``.

:class:`Supervisor` starts N child processes of the same consumer group,
forwards stop signals to them, restarts a crashed one with backoff
(:class:`Backoff`) and exits when all have stopped. :func:`child_argv` builds
a child's command line (its own worker id, instance id and health port);
:class:`ChildHealth` serves the children's health and metrics on one port.
"""

from cqrs_worker.process.backoff import Backoff
from cqrs_worker.process.children import ChildPlan, child_argv, child_health_port
from cqrs_worker.process.health import ChildHealth
from cqrs_worker.process.supervisor import Supervisor

__all__ = ["Backoff", "ChildHealth", "ChildPlan", "Supervisor", "child_argv", "child_health_port"]

"""``cqrs_worker.worker`` re-exports what applications and transports use, and stays light."""

from __future__ import annotations

import subprocess
import sys

import cqrs_worker.worker as worker


def test_all_is_sorted_and_every_name_exists() -> None:
    assert worker.__all__ == sorted(worker.__all__)
    assert [name for name in worker.__all__ if not hasattr(worker, name)] == []


def test_importing_the_worker_loads_no_transport_runtime() -> None:
    # The Kafka and RabbitMQ sources (FastStream) load only when a broker is configured.
    probe = (
        "import sys, cqrs_worker.worker, cqrs_worker.testing; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'faststream', 'sqlalchemy'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"

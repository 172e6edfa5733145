"""Fixtures of the runtime's reliability suites."""

from __future__ import annotations

import pytest

from tests.reliability.worker.rig import Rig
from tests.support.names import unique_name
from tests.support.processes import ProcessSet


@pytest.fixture
def rig(
    kafka_bootstrap: str, processes: ProcessSet, tmp_path_factory: pytest.TempPathFactory
) -> Rig:
    return Rig(
        kafka=kafka_bootstrap,
        topic=unique_name("reliability"),
        group=unique_name("reliability-group"),
        out=tmp_path_factory.mktemp("handled"),
        processes=processes,
    )

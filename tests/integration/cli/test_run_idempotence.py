"""``cqrs-worker run`` against a cluster that grants no producer ids names the setting to change."""

from __future__ import annotations

from tests.integration.cli.commands import cli, error_lines
from tests.support.kafka import TansuBroker, create_topic
from tests.support.names import unique_name


async def test_tansu_refusing_the_idempotent_producer_names_the_setting(tansu: TansuBroker) -> None:
    topic = unique_name("idem")
    await create_topic(tansu.bootstrap, topic, 1)

    result = cli(
        "run",
        "tests.unit.worker.sample:mediator",
        "--factory",
        "--kafka-bootstrap",
        tansu.bootstrap,
        "--group-id",
        unique_name("g"),
        "--topics",
        topic,
        "--session-timeout-ms",
        "2000",
        "--heartbeat-interval-ms",
        "500",
    )

    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    # The worker had joined its group (an INFO line says so) when the producer was refused.
    line = error_lines(result.stderr)[-1]
    assert line.startswith("cqrs-worker run: "), result.stderr
    assert line.endswith("set CQRS_WORKER_KAFKA_IDEMPOTENCE=false (--no-kafka-idempotence)"), line
    assert "enable_idempotence" not in line

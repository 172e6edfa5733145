"""``cqrs-worker describe`` and ``asyncapi`` as real subprocesses, on the meetings services.

No network: both only load the target. Passwords are set in the variables the
deploy files use (RabbitMQ URL, Kafka SASL password, a database DSN), and
must not show in any output.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML ships no stubs

from tests.support.asyncapi import validate_asyncapi

ROOT = Path(__file__).resolve().parents[3]
SERVICE = "consumers.meetings.service:build"
NOTIFIER = "consumers.meetings.notifier:build"
PASSWORDS = ("rabbit-pw-1", "kafka-pw-2", "db-pw-3")


def secured_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CQRS_WORKER_", "MEETINGS_"))}
    env.update(
        {
            "CQRS_WORKER_KAFKA_BOOTSTRAP": "kafka-0.kafka:9092",
            "CQRS_WORKER_GROUP_ID": "meetings",
            "CQRS_WORKER_RABBITMQ_URL": "amqp://meetings:rabbit-pw-1@rabbitmq:5672/",
            "CQRS_WORKER_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "CQRS_WORKER_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "CQRS_WORKER_KAFKA_SASL_USERNAME": "meetings",
            "CQRS_WORKER_KAFKA_SASL_PASSWORD": "kafka-pw-2",
            "MEETINGS_DATABASE_URL": "postgresql+asyncpg://meetings:db-pw-3@postgres:5432/meetings",
            **extra,
        }
    )
    return env


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cqrs_worker.cli", *args],
        cwd=ROOT,
        env=env if env is not None else secured_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_no_password(*texts: str) -> None:
    for text in texts:
        for password in PASSWORDS:
            assert password not in text


def test_describe_shows_the_service_as_run_would_with_secrets_redacted() -> None:
    done = cli("describe", SERVICE, "--factory", "--max-attempts", "3")
    assert done.returncode == 0, done.stderr
    assert_no_password(done.stdout, done.stderr)
    out = done.stdout
    assert "topics: users" in out
    assert "kafka: kafka-0.kafka:9092 (SASL_PLAINTEXT), group meetings" in out
    assert "queue meetings.users <- users (dead letters: meetings.users.dlq)" in out
    assert "UserJoined (consumers.meetings.events.UserJoined; topic users" in out
    assert "-> consumers.meetings.service.OnUserJoined" in out
    assert "retry policy (worker): 3 attempts" in out
    assert "cqrs_worker.inbox.unit_of_work.UnitOfWork" in out
    assert '"amqp://meetings:***@rabbitmq:5672/"  (environment)' in out
    assert re.search(r"CQRS_WORKER_MAX_ATTEMPTS +3  \(flag\)", out)


def test_describe_json_is_one_object_with_every_setting_redacted() -> None:
    done = cli("describe", SERVICE, "--factory", "--json")
    assert done.returncode == 0, done.stderr
    assert_no_password(done.stdout, done.stderr)
    report = json.loads(done.stdout)
    assert report["target"] == SERVICE
    [event] = report["events"]
    assert event["event_name"] == "UserJoined"
    assert [h["name"] for h in event["handlers"]] == ["consumers.meetings.service.OnUserJoined"]
    settings = {s["name"]: s for s in report["settings"]}
    assert settings["kafka_sasl_password"]["value"] == "**********"
    assert settings["rabbitmq_url"]["value"] == "amqp://meetings:***@rabbitmq:5672/"
    assert report["destinations"]["kafka"]["dead_letter_topics"] == ["users.dlq"]


def test_describe_takes_a_secret_from_a_file_and_still_hides_it(tmp_path: Path) -> None:
    secret = tmp_path / "kafka-password"
    secret.write_text("kafka-pw-2\n")
    env = secured_env()
    del env["CQRS_WORKER_KAFKA_SASL_PASSWORD"]
    env["CQRS_WORKER_KAFKA_SASL_PASSWORD_FILE"] = str(secret)
    done = cli("describe", SERVICE, "--factory", env=env)
    assert done.returncode == 0, done.stderr
    assert_no_password(done.stdout, done.stderr)
    assert '"**********"  (file)' in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["describe", "nope.missing:app"], "module 'nope.missing' not found"),
        (["describe", SERVICE], "pass --factory if it builds one"),
        (["describe", SERVICE, "--factory", "--concurrency", "0"], "CQRS_WORKER_CONCURRENCY"),
        (["asyncapi", "consumers.meetings.events:nothing"], "has no attribute 'nothing'"),
        (
            ["asyncapi", NOTIFIER, "--factory", "--output", "/nonexistent/dir/x.json"],
            "check --output",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    done = cli(*args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert_no_password(done.stderr)


def test_asyncapi_json_and_yaml_of_the_notifier_are_valid_asyncapi_3(tmp_path: Path) -> None:
    done = cli("asyncapi", NOTIFIER, "--factory")
    assert done.returncode == 0, done.stderr
    assert_no_password(done.stdout, done.stderr)
    doc = json.loads(done.stdout)
    validate_asyncapi(doc)
    assert doc["info"]["title"] == NOTIFIER
    assert {c["address"] for c in doc["channels"].values()} == {
        "participants",
        "meetings.participants",
    }
    assert doc["servers"]["rabbitmq"]["host"] == "rabbitmq:5672"

    target = tmp_path / "asyncapi.yaml"
    written = cli("asyncapi", NOTIFIER, "--factory", "--yaml", "--output", str(target))
    assert written.returncode == 0, written.stderr
    assert written.stdout == ""
    text = target.read_text()
    assert_no_password(text)
    assert text.startswith("asyncapi: 3.0.0\n")
    assert yaml.safe_load(text) == doc

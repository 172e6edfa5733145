"""One rule for every command: bad set-up is one line on stderr, exit code 2, no traceback.

Each case runs the real ``cqrs-worker`` command against the real PostgreSQL,
RabbitMQ and (for an unreachable cluster) a closed port. Warning log lines
are allowed beside the error; nothing else is.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.cli.commands import RELAY, cli, error_lines
from tests.integration.cli.conftest import Place
from tests.support.net import free_port

RABBITMQ = "amqp://guest:guest@127.0.0.1:5672/"
TABLE = ["--dsn", "{dsn}", "--table", "{table}"]
RELAY_ENV = {"CLI_TEST_DSN": "{dsn}", "CLI_TEST_TABLE": "{table}", "CLI_TEST_AMQP": RABBITMQ}

#: How each command is started when nothing is wrong with it.
COMMANDS: dict[str, tuple[list[str], dict[str, str]]] = {
    "run": (["run", "tests.unit.worker.sample:mediator", "--factory"], {}),
    "relay": (["relay", RELAY, "--factory"], RELAY_ENV),
    "relay --once": (["relay", RELAY, "--factory", "--once"], RELAY_ENV),
    "outbox status": (["outbox", "status", *TABLE], {}),
    "outbox failed": (["outbox", "failed", *TABLE], {}),
    "outbox requeue": (["outbox", "requeue", "--all-failed", *TABLE], {}),
    "outbox purge": (["outbox", "purge", "--older-than", "60", *TABLE], {}),
    "outbox ddl": (["outbox", "ddl"], {}),
    "check": (["check"], {}),
}
WITH_LOG_FLAGS = ("run", "relay", "relay --once", "outbox status", "outbox failed",
                  "outbox requeue", "outbox purge")  # fmt: skip
ADMIN = ("outbox status", "outbox failed", "outbox requeue", "outbox purge")
RELAYS = ("relay", "relay --once")

Case = tuple[str, list[str], dict[str, str], str]

EVERY_COMMAND: list[Case] = [
    ("log level variable", [], {"CQRS_WORKER_LOG_LEVEL": "verbose"}, "CQRS_WORKER_LOG_LEVEL"),
    ("log format variable", [], {"CQRS_WORKER_LOG_FORMAT": "xml"}, "CQRS_WORKER_LOG_FORMAT"),
    ("unknown flag", ["--no-such-flag"], {}, "unrecognized arguments: --no-such-flag"),
]
LOG_FLAGS: list[Case] = [
    ("log level flag", ["--log-level", "verbose"], {}, "CQRS_WORKER_LOG_LEVEL (--log-level)"),
]
RUN: list[Case] = [
    ("concurrency 0", ["--concurrency", "0"], {}, "CQRS_WORKER_CONCURRENCY (--concurrency)"),
    ("not a URL", ["--rabbitmq-url", "notaurl"], {}, "CQRS_WORKER_RABBITMQ_URL (--rabbitmq-url)"),
    (
        "http URL",
        [],
        {"CQRS_WORKER_RABBITMQ_URL": "http://guest:guest@127.0.0.1:5672/"},
        "expected an AMQP URL",
    ),
    ("negative size", ["--max-message-bytes", "-5"], {}, "CQRS_WORKER_MAX_MESSAGE_BYTES"),
    (
        "wrong AMQP password",
        ["--rabbitmq-url", "amqp://guest:wrong@127.0.0.1:5672/", "--group-id", "g"],
        {},
        "ACCESS_REFUSED",
    ),
    (
        "Kafka unreachable",
        ["--kafka-bootstrap", "127.0.0.1:{free}", "--group-id", "g"],
        {},
        "cannot connect to Kafka at 127.0.0.1:{free}",
    ),
    ("ordering", ["--ordering", "random"], {}, "CQRS_WORKER_ORDERING (--ordering)"),
    (
        "ordering key",
        [],
        {"CQRS_WORKER_ORDERING_KEY": "headers.key"},
        "CQRS_WORKER_ORDERING_KEY (--ordering-key): expected 'partition_key' or",
    ),
    ("workers 0", ["--workers", "0"], {}, "--workers: expected 1 to 256, got '0'"),
    ("workers not a number", ["--workers", "two"], {}, "--workers: expected 1 to 256"),
    (
        "workers past the last port",
        ["--workers", "3", "--health-port", "65534"],
        {},
        "with 3 workers it needs ports 65534 to 65537; choose 65532 or lower",
    ),
]
RELAY_CASES: list[Case] = [
    ("batch size flag", ["--batch-size", "-3"], {}, "CQRS_WORKER_RELAY_BATCH_SIZE (--batch-size)"),
    (
        "batch size variable",
        [],
        {"CQRS_WORKER_RELAY_BATCH_SIZE": "0"},
        "CQRS_WORKER_RELAY_BATCH_SIZE",
    ),
    (
        "max attempts",
        ["--max-attempts", "0"],
        {},
        "CQRS_WORKER_RELAY_MAX_ATTEMPTS (--max-attempts)",
    ),
    ("bad DSN", [], {"CLI_TEST_DSN": "notadsn"}, "the database URL is not valid"),
    (
        "database unreachable",
        [],
        {"CLI_TEST_DSN": "postgresql+asyncpg://postgres@127.0.0.1:{free}/test"},
        "cannot connect to the database at postgresql+asyncpg://postgres@127.0.0.1:{free}/test",
    ),
    (
        "no such role",
        [],
        {"CLI_TEST_DSN": "postgresql+asyncpg://nobody_here@127.0.0.1:5432/test"},
        'role "nobody_here" does not exist',
    ),
    ("role may only read", [], {"CLI_TEST_DSN": "{reader_dsn}"}, "cannot UPDATE outbox table"),
    ("missing table", [], {"CLI_TEST_TABLE": "no_such_outbox"}, "'no_such_outbox' does not exist"),
    (
        "wrong AMQP password",
        [],
        {"CLI_TEST_AMQP": "amqp://guest:wrong@127.0.0.1:5672/"},
        "ACCESS_REFUSED",
    ),
    (
        "RabbitMQ unreachable",
        [],
        {"CLI_TEST_AMQP": "amqp://guest:guest@127.0.0.1:{free}/"},
        "the EventProducer's broker cannot connect",
    ),
    (
        "Kafka unreachable",
        [],
        {"CLI_TEST_KAFKA": "127.0.0.1:{free}"},
        "cannot start the Kafka producer",
    ),
]
ADMIN_CASES: list[Case] = [
    (
        "a DSN and a relay",
        [RELAY],
        {},
        "give the database with --dsn / CQRS_WORKER_OUTBOX_DSN or MODULE:ATTR, not both",
    ),
    ("bad DSN", ["--dsn", "notadsn"], {}, "--dsn / CQRS_WORKER_OUTBOX_DSN is not a usable"),
    ("sync driver", ["--dsn", "postgresql://u@h/d"], {}, "is not a usable database URL"),
    (
        "database unreachable",
        ["--dsn", "postgresql+asyncpg://postgres@127.0.0.1:{free}/test"],
        {},
        "cannot connect to the database",
    ),
    (
        "no such role",
        ["--dsn", "postgresql+asyncpg://nobody_here@127.0.0.1:5432/test"],
        {},
        'role "nobody_here" does not exist',
    ),
    ("missing table", ["--table", "no_such_outbox"], {}, "'no_such_outbox' does not exist"),
    ("bad table name", ["--table", "bad name"], {}, "must be a plain SQL identifier"),
]
WRITERS: list[Case] = [
    ("role may only read", ["--dsn", "{reader_dsn}"], {}, "outbox table"),
]
DDL: list[Case] = [
    ("unknown dialect", ["--dialect", "oracle"], {}, "no outbox DDL for dialect 'oracle'"),
    ("bad table name", ["--table", "bad name"], {}, "must be a plain SQL identifier"),
]
CHECK: list[Case] = [
    ("port flag not a number", ["--port", "abc"], {}, "invalid int value: 'abc'"),
    ("port flag out of range", ["--port", "70000"], {}, "--port: '70000' is not a health port"),
    (
        "port variable not a number",
        [],
        {"CQRS_WORKER_HEALTH_PORT": "abc"},
        "CQRS_WORKER_HEALTH_PORT: 'abc' is not a health port",
    ),
]


def _cases() -> list[Any]:
    # "relay --once" and the other admin actions share the start-up code of
    # "relay" and "outbox status" up to the point where they differ: they get
    # the cases that reach that point (the broker; the rights they need).
    specific: dict[str, list[Case]] = {
        "run": RUN,
        "relay": RELAY_CASES,
        "relay --once": [c for c in RELAY_CASES if "unreachable" in c[0] or "AMQP" in c[0]],
        "outbox status": ADMIN_CASES,
        "outbox failed": [c for c in ADMIN_CASES if c[0] == "missing table"],
        "outbox requeue": [c for c in ADMIN_CASES if c[0] == "missing table"] + WRITERS,
        "outbox purge": [c for c in ADMIN_CASES if c[0] == "missing table"] + WRITERS,
        "outbox ddl": DDL,
        "check": CHECK,
    }
    params = []
    for command in COMMANDS:
        cases = EVERY_COMMAND + (LOG_FLAGS if command in WITH_LOG_FLAGS else [])
        for name, args, env, expected in cases + specific[command]:
            params.append(pytest.param(command, args, env, expected, id=f"{command}: {name}"))
    return params


@pytest.mark.parametrize(("command", "args", "env", "expected"), _cases())
def test_bad_set_up_is_one_line_and_exit_2(
    place: Place, command: str, args: list[str], env: dict[str, str], expected: str
) -> None:
    base_args, base_env = COMMANDS[command]
    argv = [place.fill(a) for a in [*base_args, *args]]
    environment = {k: place.fill(v) for k, v in {**base_env, **env}.items()}

    result = cli(*argv, **environment)

    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "Task was destroyed" not in result.stderr
    [line] = error_lines(result.stderr)
    assert line.startswith("cqrs-worker"), line
    assert place.fill(expected) in line


SAMPLE = "tests.unit.worker.sample"
#: ``run MODULE:ATTR --workers 2``: checked once by the supervisor (settings, import path)
#: or seen by the children (brokers); either way one line, once, not one per child.
WORKERS: list[tuple[str, str, list[str], str]] = [
    ("bad setting", "mediator", ["--concurrency", "0"], "CQRS_WORKER_CONCURRENCY (--concurrency)"),
    ("bad target", "nothing", [], f"'{SAMPLE}' has no attribute 'nothing'"),
    ("no broker", "mediator", [], "no broker to consume from"),
    (
        "Kafka unreachable",
        "mediator",
        ["--kafka-bootstrap", "127.0.0.1:{free}", "--group-id", "g"],
        "cannot connect to Kafka at 127.0.0.1:{free}",
    ),
    (
        "wrong AMQP password",
        "mediator",
        ["--rabbitmq-url", "amqp://guest:wrong@127.0.0.1:5672/", "--group-id", "g"],
        "ACCESS_REFUSED",
    ),
]


@pytest.mark.parametrize(
    ("attr", "args", "expected"), [pytest.param(*case[1:], id=case[0]) for case in WORKERS]
)
def test_workers_that_fail_at_start_up_print_one_line_and_exit_2(
    place: Place, attr: str, args: list[str], expected: str
) -> None:
    target = f"{SAMPLE}:{attr}"
    argv = [place.fill(a) for a in ["run", target, "--factory", "--workers", "2", *args]]

    result = cli(*argv)

    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    [line] = error_lines(result.stderr)
    assert line.startswith("cqrs-worker run: "), line
    assert place.fill(expected) in line
    assert "guest:wrong" not in result.stderr


def test_workers_with_a_taken_child_health_port_print_one_error_line(place: Place) -> None:
    # Child 0's port (HEALTH_PORT + 1) is taken; Kafka is refused too, so child 1 may
    # fail first. Either way: one error line, once. (The health servers that did
    # start log their INFO lines, as a single ``run`` does with a health port.)
    with _taken_child_port() as port:
        result = cli(
            *COMMANDS["run"][0],
            "--workers",
            "2",
            "--health-port",
            str(port),
            "--health-host",
            "127.0.0.1",
            "--kafka-bootstrap",
            place.fill("127.0.0.1:{free}"),
            "--group-id",
            "g",
        )

    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    [line] = [line for line in error_lines(result.stderr) if " INFO " not in line]
    assert line.startswith("cqrs-worker run: "), line
    taken = f"cannot serve health checks on 127.0.0.1:{port + 1}"
    assert taken in line or place.fill("cannot connect to Kafka at 127.0.0.1:{free}") in line


@contextlib.contextmanager
def _taken_child_port() -> Iterator[int]:
    """A port with the two above it free, the first of those taken while in the block."""
    for _ in range(50):
        base = free_port()
        with contextlib.ExitStack() as stack:
            try:
                socks = [stack.enter_context(socket.socket()) for _ in range(3)]
                for offset, sock in enumerate(socks):
                    sock.bind(("127.0.0.1", base + offset))
            except OSError:
                continue
            socks[0].close()
            socks[2].close()
            socks[1].listen()
            yield base
            return
    raise RuntimeError("no 3 free ports in a row")


#: A misspelt variable with a quick failure after it, per command.
MISSPELT = {
    "run": ["--concurrency", "0"],
    "relay": ["--batch-size", "-3"],
    "outbox status": ["--table", "bad name"],
    "outbox ddl": ["--dialect", "oracle"],
    "check": ["--port", "0"],
}


@pytest.mark.parametrize("command", MISSPELT)
def test_a_misspelt_variable_is_one_warning_naming_the_closest_setting(
    place: Place, command: str
) -> None:
    base_args, base_env = COMMANDS[command]
    argv = [place.fill(a) for a in [*base_args, *MISSPELT[command]]]
    environment = {k: place.fill(v) for k, v in base_env.items()}

    result = cli(*argv, **environment, CQRS_WORKER_CONCURENCY="3", CQRS_WORKER_GROUP_ID="g")

    warnings = [line for line in result.stderr.splitlines() if " WARNING " in line]
    assert [w.partition(" WARNING ")[2] for w in warnings] == [
        "cqrs_worker.cli.environment: CQRS_WORKER_CONCURENCY is not a cqrs-worker setting "
        "and is ignored; did you mean CQRS_WORKER_CONCURRENCY?"
    ]
    assert result.returncode == 2

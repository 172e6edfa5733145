"""Test harness for cqrs-worker: real brokers, databases and worker processes.

Each module does one job and has no import-time side effects:

- :mod:`tests.support.names` -- unique names (topics, queues, groups).
- :mod:`tests.support.net` -- free loopback ports and TCP reachability.
- :mod:`tests.support.waiting` -- wait for a condition under a deadline.
- :mod:`tests.support.processes` -- start, watch, signal and always stop child processes.
- :mod:`tests.support.kafka` -- a Tansu (Kafka wire-compatible) broker and topic helpers.
- :mod:`tests.support.proxy` -- a TCP proxy that can cut and restore traffic.
- :mod:`tests.support.services` -- addresses of RabbitMQ, PostgreSQL, MariaDB and Kafka.
"""

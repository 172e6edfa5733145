"""The worker runtime: consume Kafka and RabbitMQ, run the EventMap's handlers, at least once.

The delivery contract lives in :mod:`cqrs_worker.worker.pipeline`.
"""

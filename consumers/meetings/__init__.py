"""The meetings example: exactly-once effects from Kafka to RabbitMQ.

::

    Kafka "users"  --UserJoined-->  meetings worker (service.py)
        JoinMeeting command -> participant row + ParticipantAdded in the outbox,
        with the inbox record, in one transaction
    outbox  --relay (service.py:relay)-->  RabbitMQ exchange, routing key "participants"
    RabbitMQ  --ParticipantAdded-->  notifier worker (notifier.py):
        a welcome row, with its own inbox record

Every process is the ``cqrs-worker`` command (configure with the
``MEETINGS_*`` variables below and the usual ``CQRS_WORKER_*`` ones)::

    cqrs-worker run consumers.meetings.service:build --factory      # Kafka consumer
    cqrs-worker relay consumers.meetings.service:relay --factory    # outbox -> RabbitMQ
    cqrs-worker run consumers.meetings.notifier:build --factory     # RabbitMQ consumer

``MEETINGS_DATABASE_URL`` (SQLAlchemy URL), ``MEETINGS_AMQP`` (the relay's
RabbitMQ), ``MEETINGS_EXCHANGE`` (default ``cqrs.events``, the workers'
default exchange), ``MEETINGS_PREFIX`` (table name prefix, default
``meetings``), ``MEETINGS_PARTICIPANTS_TOPIC`` (routing key of
``ParticipantAdded``, default ``participants``). The two URLs carry
passwords: give them as ``MEETINGS_DATABASE_URL_FILE`` / ``MEETINGS_AMQP_FILE``
(a file holding the value, e.g. a mounted Secret; :mod:`consumers.meetings.env`).
``python -m consumers.meetings.schema`` creates the tables.
"""

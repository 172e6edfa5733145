"""Dead letters: read them, count them, and replay them to where they came from.

The worker writes dead letters (:mod:`cqrs_worker.worker.dead_letter`) to
Kafka ``<topic><dlq_suffix>`` and to the RabbitMQ queue ``<queue><dlq_suffix>``.
This package reads them back for ``cqrs-worker dlq``:

* :mod:`~cqrs_worker.dlq.letter` — :class:`DeadLetter`, one dead letter, transport-neutral;
* :mod:`~cqrs_worker.dlq.filters` — which dead letters a command acts on;
* :mod:`~cqrs_worker.dlq.stats` — counts by reason, event name, exception type;
* :mod:`~cqrs_worker.dlq.marker` — the headers a replayed copy carries, and
  :func:`is_replay`, which the inbox asks (a replayed event whose inbox record
  says "dead-lettered" is handled once more, exactly once);
* :mod:`~cqrs_worker.dlq.kafka` and :mod:`~cqrs_worker.dlq.rabbitmq` — reading and replaying.

Only the light modules are imported here: the transports load on use.
"""

from cqrs_worker.dlq.marker import REPLAY_COUNT, REPLAYED_AT, is_replay, replay_headers

__all__ = ["REPLAYED_AT", "REPLAY_COUNT", "is_replay", "replay_headers"]

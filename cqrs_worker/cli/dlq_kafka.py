"""``cqrs-worker dlq`` on Kafka, over :class:`~cqrs_worker.dlq.kafka.KafkaDeadLetters`."""

from __future__ import annotations

import argparse
import contextlib
import json

from cqrs_worker.cli.dlq import print_letter, progress, say
from cqrs_worker.dlq.filters import LetterFilter
from cqrs_worker.dlq.kafka import KafkaDeadLetters
from cqrs_worker.dlq.replay import ReplayOptions
from cqrs_worker.dlq.settings import DeadLetterSettings
from cqrs_worker.dlq.stats import LetterStats
from cqrs_worker.security.kafka import aiokafka_options

__all__ = ["kafka_command"]


async def kafka_command(
    args: argparse.Namespace,
    settings: DeadLetterSettings,
    topic: str,
    letter_filter: LetterFilter,
    options: ReplayOptions | None,
) -> int:
    letters = KafkaDeadLetters(
        bootstrap=settings.kafka_bootstrap or "",  # transport() checked it
        topic=topic,
        suffix=settings.dlq_suffix,
        timeout=args.timeout,
        client_options=aiokafka_options(settings),
        enable_idempotence=settings.kafka_idempotence,
    )
    async with letters:
        if options is not None:
            report = await letters.replay(
                options, from_beginning=args.from_beginning, progress=progress
            )
            say(report.render())
            return 0
        stats = LetterStats(source=letters.dlq_topic)
        shown = 0
        async with contextlib.aclosing(letters.letters()) as records:
            async for _, letter in records:
                if not letter_filter.matches(letter):
                    continue
                if args.dlq_command == "show":
                    print_letter(letter, as_json=args.json)
                    shown += 1
                else:
                    stats.add(letter)
                if shown >= args.limit or stats.total >= args.limit:
                    stats.complete = False
                    break
        if args.dlq_command == "stats":
            say(json.dumps(stats.to_json()) if args.json else stats.render())
    return 0

"""``cqrs-worker dlq`` on RabbitMQ, over :class:`~cqrs_worker.dlq.rabbitmq.RabbitDeadLetters`."""

from __future__ import annotations

import argparse
import json

from cqrs_worker.cli.dlq import print_letter, progress, say
from cqrs_worker.dlq.filters import LetterFilter
from cqrs_worker.dlq.rabbitmq import RabbitDeadLetters
from cqrs_worker.dlq.replay import ReplayOptions
from cqrs_worker.dlq.settings import DeadLetterSettings
from cqrs_worker.dlq.stats import LetterStats
from cqrs_worker.security.rabbitmq import amqp_ssl_context

__all__ = ["rabbitmq_command"]


async def rabbitmq_command(
    args: argparse.Namespace,
    settings: DeadLetterSettings,
    queue: str,
    letter_filter: LetterFilter,
    options: ReplayOptions | None,
) -> int:
    url = settings.rabbitmq_url or ""  # transport() checked it
    letters = RabbitDeadLetters(
        url=url,
        queue=queue,
        suffix=settings.dlq_suffix,
        timeout=args.timeout,
        ssl_context=amqp_ssl_context(url, settings),
    )
    async with letters:
        if options is not None:
            say((await letters.replay(options, progress=progress)).render())
            return 0
        # Filtered show reads the whole queue to find --limit matches.
        scan = args.dlq_command == "show" and not letter_filter.everything
        read = await letters.browse(letters.in_queue if scan else args.limit)
        matching = [letter for letter in read if letter_filter.matches(letter)]
        if args.dlq_command == "show":
            for letter in matching[: args.limit]:
                print_letter(letter, as_json=args.json)
            return 0
        stats = LetterStats(source=letters.dlq, in_source=letters.in_queue)
        stats.complete = len(read) >= letters.in_queue
        for letter in matching:
            stats.add(letter)
        say(json.dumps(stats.to_json()) if args.json else stats.render())
    return 0

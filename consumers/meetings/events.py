"""The messages of the meetings example."""

from __future__ import annotations

import pydantic

from cqrs_worker import Command, NotificationEvent


class Participant(pydantic.BaseModel):
    user: str
    meeting: str


class UserJoined(NotificationEvent[Participant]):
    """Published by the users service (consumed here from Kafka)."""

    event_name: str = "UserJoined"
    topic: str = "users"


class ParticipantAdded(NotificationEvent[Participant]):
    """Published by the meetings service through its outbox (to RabbitMQ)."""

    event_name: str = "ParticipantAdded"
    topic: str = "participants"


class JoinMeeting(Command):
    user: str
    meeting: str

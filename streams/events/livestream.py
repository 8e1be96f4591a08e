"""Live-stream vocabulary: event payloads (`livestream.events`), statuses, roles, a stream's view."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field

from streams.events.base import Payload, UtcTime


class Role(StrEnum):
    HOST = "host"
    GUEST = "guest"
    AUDIENCE = "audience"


# Higher wins when one user holds several roles in one stream (host wins over guest).
ROLE_RANK: dict[Role, int] = {Role.AUDIENCE: 1, Role.GUEST: 2, Role.HOST: 3}

StreamType = Literal["solo", "duoself", "duocrowd"]
AccessType = Literal["free", "paid"]
JoinChannel = Literal["rest", "live-stream", "stream-chat"]


class StreamStatus(StrEnum):
    """Derived from a stream's facts by the projection, never written by an event."""

    CREATED = "created"  # created without a planned start
    SCHEDULED = "scheduled"  # created with a plannedStartDate
    LIVE = "live"
    ENDED = "ended"


STARTABLE = frozenset({StreamStatus.CREATED, StreamStatus.SCHEDULED})


@dataclass(frozen=True, slots=True)
class StreamView:
    """A stream as the command rules see it. The read side builds it from its document, so the
    rules never read the document's camelCase keys."""

    id: str
    status: StreamStatus
    deleted: bool
    creator_id: str | None
    guests: tuple[str, ...] = ()
    started_at: datetime | None = None
    ended_at: datetime | None = None
    deleted_at: datetime | None = None

    def role_for(self, user_id: str) -> Role:
        """The creator is the host, a named guest a guest, anyone else audience."""
        if user_id == self.creator_id:
            return Role.HOST
        if user_id in self.guests:
            return Role.GUEST
        return Role.AUDIENCE


class UserProfile(Payload):
    """A user as the seed's `creator` object shows one (`_id`, not `id`)."""

    id: str = Field(alias="_id")
    username: str | None = None
    name: str | None = None
    surname: str | None = None
    profile_photo: str | None = None


class StreamCreated(Payload):
    live_stream_id: str
    title: str
    live_stream_type: StreamType
    channel_name: str
    access_type: AccessType = "free"
    price: float = 0
    interest: str | None = None
    guests: list[str] = Field(default_factory=list)
    creator: UserProfile
    planned_start_date: UtcTime | None = None
    planned_end_date: UtcTime | None = None
    duration_goal: int | None = None
    motivation: str | None = None
    thumbnail_url: str | None = None
    recording: bool = False
    created_at: UtcTime


class StreamUpdated(Payload):
    """Changed descriptive fields only; lifecycle changes have their own events."""

    live_stream_id: str
    title: str | None = None
    thumbnail_url: str | None = None
    recording_url: str | None = None
    motivation: str | None = None
    updated_at: UtcTime


class StreamStarted(Payload):
    live_stream_id: str
    started_at: UtcTime


class StreamEnded(Payload):
    live_stream_id: str
    ended_at: UtcTime


class StreamDeleted(Payload):
    live_stream_id: str
    deleted_at: UtcTime
    deleted_by: str


class ParticipantJoined(Payload):
    live_stream_id: str
    user_id: str
    role: Role
    channel: JoinChannel
    joined_at: UtcTime

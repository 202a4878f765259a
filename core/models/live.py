"""Live sessions (the ``/live`` room of a consultation session): the event log every
client replays from, the participants, their messages and the golden-microphone queue.

Every change to a live session is one :class:`LiveEvent` with a per-session sequence
number allocated from :class:`LiveRoom` in the same transaction, so a reconnecting phone
asks for "everything after seq N" and gets it in order, without duplicates. A client's
own id for an emit (``client_key``) is unique per session, which makes a retry harmless.

Each server process that serves ``/live`` is a :class:`LiveProcess` row with a heartbeat;
a connection records the process that holds it, so the connections of a process that
died without closing them (SIGKILL, power loss) are swept when its heartbeat goes stale.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime, utcnow


class LiveRoom(Base):
    """One row per live session: the sequence counter and the room's current state."""

    __tablename__ = "live_rooms"

    session_id: Mapped[int] = mapped_column(ForeignKey("consultation_sessions.id", ondelete="CASCADE"),
                                            primary_key=True)
    #: the last sequence number handed out; bumped (row-locked) in the event's transaction
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    #: the agenda position everyone sees as current (None: not started)
    agenda_position: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: the announcement pinned at the top of everyone's screen
    pinned: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: the floor request of the speaker who holds the microphone now
    floor_request_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: the minutes, frozen when the session closed
    minutes: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class Participant(Base):
    """Someone who joined a live session: a member, or a guest with a display name.
    The rows are the attendance record of the minutes."""

    __tablename__ = "live_participants"
    __table_args__ = (
        UniqueConstraint("session_id", "member_id"),
        UniqueConstraint("guest_token_hash"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("consultation_sessions.id", ondelete="CASCADE"), index=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"), nullable=True)
    display_name: Mapped[str] = mapped_column(String(80))
    #: host, department, resident or guest (moderators and staff are "host" in the room)
    role: Mapped[str] = mapped_column(String(16))
    guest_token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LiveProcess(Base):
    """A server process serving ``/live``: registered when it starts serving, its
    heartbeat bumped every few seconds. A row whose heartbeat is stale is a dead process;
    whoever sweeps it first deletes the row, and with it the claim on its connections."""

    __tablename__ = "live_processes"

    #: "<host>:<pid>:<random>", made when the process starts serving
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LiveConnection(Base):
    """One open Socket.IO connection of a participant (presence: who is here now)."""

    __tablename__ = "live_connections"

    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("consultation_sessions.id", ondelete="CASCADE"), index=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("live_participants.id", ondelete="CASCADE"), index=True)
    connected_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: the :class:`LiveProcess` holding the connection (None: recorded before processes were
    #: tracked, or outside a server; swept like a dead process's)
    process_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)


class LiveEvent(Base):
    """One stored event of a session's room, in sequence."""

    __tablename__ = "live_events"
    __table_args__ = (
        UniqueConstraint("session_id", "seq"),
        UniqueConstraint("session_id", "client_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("consultation_sessions.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    participant_id: Mapped[int | None] = mapped_column(ForeignKey("live_participants.id", ondelete="SET NULL"),
                                                       nullable=True)
    #: "<participant id>:<client-generated id>": a retried emit finds its first result
    client_key: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LiveMessage(Base):
    """A message of the live discussion; hiding keeps it (and the reason) in the record."""

    __tablename__ = "live_messages"
    __table_args__ = (Index("ix_live_messages_participant_created", "participant_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("consultation_sessions.id", ondelete="CASCADE"), index=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("live_participants.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(Text)
    reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("live_messages.id", ondelete="SET NULL"),
                                                    nullable=True)
    from_floor: Mapped[bool] = mapped_column(Boolean, default=False)
    agenda_position: Mapped[int | None] = mapped_column(Integer, nullable=True)
    seq: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    hidden_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    hidden_by_id: Mapped[int | None] = mapped_column(ForeignKey("live_participants.id", ondelete="SET NULL"),
                                                     nullable=True)
    hidden_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)


class FloorRequest(Base):
    """A raised hand in the golden-microphone queue, and what became of it.

    The database holds the two rules of the microphone under any race: at most one
    speaking turn per session, and at most one raised hand per participant."""

    __tablename__ = "live_floor_requests"
    __table_args__ = (
        Index("uq_live_floor_requests_speaking", "session_id", unique=True,
              sqlite_where=text("status = 'speaking'"), postgresql_where=text("status = 'speaking'")),
        Index("uq_live_floor_requests_waiting", "session_id", "participant_id", unique=True,
              sqlite_where=text("status = 'waiting'"), postgresql_where=text("status = 'waiting'")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("consultation_sessions.id", ondelete="CASCADE"), index=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("live_participants.id", ondelete="CASCADE"))
    #: waiting, speaking, done, withdrawn
    status: Mapped[str] = mapped_column(String(16), default="waiting")
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    granted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: speaking time given with the floor, in seconds (None: no limit)
    seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: how the floor ended: "time" (the speaking time ran out), "host" (taken back),
    #: "next" (given to someone else), "closed" (the session closed); None while speaking
    ended_by: Mapped[str | None] = mapped_column(String(16), nullable=True)

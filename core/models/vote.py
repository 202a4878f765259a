"""Motions (表决事项), ballots (选票) and the ballot log.

What must hold under a race or a careless edit lives in the database:

* one open ballot per member and motion (``ballots``: unique motion + member), and one
  participation per member in a secret ballot (``vote_participations``);
* a secret ballot is two records that share nothing: the participation says *who* voted,
  the anonymous ballot says *what* was voted. Both have random 128-bit ids (never an
  autoincrement order), neither has a timestamp, and on SQLite both are ``WITHOUT ROWID``
  tables so not even the hidden rowid keeps their insertion order; and they are not written
  together: the vote commits the participation with a *sealed* pending ballot
  (``pending_ballots``), and the anonymous ballots are written later, shuffled in batches,
  in transactions of their own (``core.services.votes.write_pending``);
* every ballot gets a receipt (a SHA-256 over the ballot and a random nonce), unique per
  motion;
* the ballot log is a hash chain, one entry per cast or changed ballot: each entry holds
  the previous entry's hash, and the motion row holds the head (length and last hash), so
  an edit, a deletion or a reordering of the log is detected by ``courtyard verify``.

See ``docs/voting.md`` for the threat model.
"""

from __future__ import annotations

import enum
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime, utcnow


class MotionStatus(str, enum.Enum):
    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"


class Electorate(str, enum.Enum):
    #: every active member of the community
    COMMUNITY = "community"
    #: members whose home place is ``place_id`` or below it, or who hold a role bound there
    PLACE = "place"
    #: the elected resident representatives (the community's ``vote_representatives`` list)
    REPRESENTATIVES = "representatives"
    #: the members listed for this motion (``motion_voters``)
    LIST = "list"


STATUSES = tuple(s.value for s in MotionStatus)
ELECTORATES = tuple(e.value for e in Electorate)
VISIBILITIES = ("live", "after_close")
#: the hash the first ballot-log entry of every motion chains from
GENESIS = "0" * 64


def random_id() -> str:
    """A random 128-bit id as 32 hex digits (no order, nothing to correlate)."""
    return secrets.token_hex(16)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Representative(Base):
    """An elected resident representative (居民代表) of a community: the electorate of
    motions put to the representative assembly."""

    __tablename__ = "vote_representatives"
    __table_args__ = (UniqueConstraint("community_id", "member_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Motion(Base):
    """What is put to the vote: options, the tally method, who may vote, the window."""

    __tablename__ = "motions"
    __table_args__ = (
        CheckConstraint(_in("status", STATUSES), name="status"),
        CheckConstraint(_in("electorate", ELECTORATES), name="electorate"),
        CheckConstraint(_in("results_visibility", VISIBILITIES), name="results_visibility"),
        CheckConstraint("electorate <> 'place' OR place_id IS NOT NULL", name="place_electorate_has_place"),
        CheckConstraint("quorum >= 0", name="quorum"),
        CheckConstraint("log_length >= 0", name="log_length"),
        CheckConstraint("closes_at IS NULL OR opens_at IS NULL OR closes_at > opens_at", name="window"),
        Index("ix_motions_community_status", "community_id", "status"),
        Index("ix_motions_session", "session_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    session_id: Mapped[int | None] = mapped_column(ForeignKey("consultation_sessions.id", ondelete="SET NULL"),
                                                   nullable=True)
    agenda_item_id: Mapped[int | None] = mapped_column(ForeignKey("agenda_items.id", ondelete="SET NULL"),
                                                       nullable=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    #: option names in ballot-paper order (a yes/no motion: ["yes", "no", "abstain"])
    options: Mapped[list[str]] = mapped_column(JSON)
    method_key: Mapped[str] = mapped_column(String(64))
    #: the tally method's parameters (threshold, max_approvals, min/max ...)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: ballots needed for a decision (0: none)
    quorum: Mapped[int] = mapped_column(Integer, default=0)
    electorate: Mapped[str] = mapped_column(String(16), default=Electorate.COMMUNITY.value)
    place_id: Mapped[int | None] = mapped_column(ForeignKey("places.id", ondelete="SET NULL"), nullable=True)
    secret: Mapped[bool] = mapped_column(Boolean, default=False)
    results_visibility: Mapped[str] = mapped_column(String(16), default="after_close")
    opens_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default=MotionStatus.DRAFT.value)
    category_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: head of the ballot log: how many entries, and the hash of the last one
    log_length: Mapped[int] = mapped_column(Integer, default=0)
    log_head: Mapped[str] = mapped_column(String(64), default=GENESIS)
    #: bumped by every edit of a draft (optimistic concurrency for the edit form)
    version: Mapped[int] = mapped_column(Integer, default=1)


class MotionVoter(Base):
    """One entry of a motion's own electorate list (electorate ``list``)."""

    __tablename__ = "motion_voters"
    __table_args__ = (UniqueConstraint("motion_id", "member_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    motion_id: Mapped[int] = mapped_column(ForeignKey("motions.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)


class Ballot(Base):
    """An open (named) ballot. A changed vote updates the row; the log keeps every version."""

    __tablename__ = "ballots"
    __table_args__ = (
        UniqueConstraint("motion_id", "member_id"),
        UniqueConstraint("motion_id", "receipt"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    motion_id: Mapped[int] = mapped_column(ForeignKey("motions.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    #: the ballot as the tally method consumes it ("yes", ["B", "A"], {"A": 4} ...)
    choice: Mapped[Any] = mapped_column(JSON)
    nonce: Mapped[str] = mapped_column(String(32))
    receipt: Mapped[str] = mapped_column(String(64))
    #: the host who recorded it for a resident without a phone (show of hands, paper)
    assisted_by_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"),
                                                       nullable=True)
    #: the client id of the last emit that changed it (a retry is recognised)
    client_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cast_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Participation(Base):
    """Who took part in a secret ballot — and nothing about what they voted."""

    __tablename__ = "vote_participations"
    __table_args__ = (
        UniqueConstraint("motion_id", "member_id"),
        {"sqlite_with_rowid": False},
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=random_id)
    motion_id: Mapped[int] = mapped_column(ForeignKey("motions.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    assisted_by_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"),
                                                       nullable=True)
    client_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


class AnonymousBallot(Base):
    """What was voted in a secret ballot — and nothing about who voted it.

    ``replace_hash`` is SHA-256 of a per-voter secret that only the voter's phone holds
    (the "change code"); presenting the secret again finds this record to replace it."""

    __tablename__ = "anonymous_ballots"
    __table_args__ = (
        UniqueConstraint("motion_id", "receipt"),
        UniqueConstraint("motion_id", "replace_hash"),
        {"sqlite_with_rowid": False},
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=random_id)
    motion_id: Mapped[int] = mapped_column(ForeignKey("motions.id", ondelete="CASCADE"))
    choice: Mapped[Any] = mapped_column(JSON)
    nonce: Mapped[str] = mapped_column(String(32))
    receipt: Mapped[str] = mapped_column(String(64))
    replace_hash: Mapped[str] = mapped_column(String(64))


class PendingBallot(Base):
    """A secret ballot that is acknowledged but not yet written out (sealed; see
    ``core.services.ballot_seal``). It is stored with its voter's participation, so that a
    crash loses no acknowledged vote, but holds nothing readable without the server's key:
    ``lookup`` is SHA-256 of the change code under another label than ``replace_hash``
    (so the two cannot be matched without the code), ``sealed`` is the ballot encrypted and
    padded to a fixed size. :func:`core.services.votes.write_pending` opens a batch of them,
    writes the anonymous ballots and their log entries in random order in a transaction of
    its own, and deletes them."""

    __tablename__ = "pending_ballots"
    __table_args__ = (
        UniqueConstraint("motion_id", "lookup"),
        {"sqlite_with_rowid": False},
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=random_id)
    motion_id: Mapped[int] = mapped_column(ForeignKey("motions.id", ondelete="CASCADE"))
    lookup: Mapped[str] = mapped_column(String(64))
    sealed: Mapped[bytes] = mapped_column(LargeBinary)


class BallotLogEntry(Base):
    """One link of a motion's ballot log (a hash chain).

    ``entry_hash = SHA-256(prev_hash + "\\n" + canonical JSON of record)``. For a secret
    ballot ``record`` holds the anonymous record only (receipt, nonce, choice, and the
    receipt it replaces); for an open ballot also the member and who assisted."""

    __tablename__ = "ballot_log"
    __table_args__ = (
        UniqueConstraint("motion_id", "position"),
        CheckConstraint("position >= 1", name="position"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    motion_id: Mapped[int] = mapped_column(ForeignKey("motions.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    record: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))


class MotionResult(Base):
    """The tally stored when the motion closed, with the log head it was counted from."""

    __tablename__ = "motion_results"

    motion_id: Mapped[int] = mapped_column(ForeignKey("motions.id", ondelete="CASCADE"), primary_key=True)
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    ballots: Mapped[int] = mapped_column(Integer)
    eligible: Mapped[int] = mapped_column(Integer)
    quorum_met: Mapped[bool] = mapped_column(Boolean)
    log_length: Mapped[int] = mapped_column(Integer)
    log_head: Mapped[str] = mapped_column(String(64))
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

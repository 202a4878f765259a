"""Live sessions: joining, presence, the discussion, the golden microphone, host
controls, the event log with per-session sequence numbers, and the minutes.

Every change is stored as a :class:`~core.models.LiveEvent` whose ``seq`` comes from the
session's :class:`~core.models.LiveRoom` row, bumped with ``UPDATE … RETURNING`` in the
same transaction: the row lock (PostgreSQL) or the write lock (SQLite) serialises writers
of one session, so sequence numbers are gap-free and unique across threads and
processes. ``client_key`` is unique per session, so a retried emit finds the event its
first attempt stored instead of storing a second one.

Changes that two processes may race to make — taking the floor back when the speaking
time runs out (every process's timer and sweep, and the host's button), sweeping the
connections of a dead server process — are conditional ``UPDATE``/``DELETE`` statements,
so exactly one of the racers does it and appends the event. Changes that decide from the
room's state — giving the floor, raising or lowering a hand — lock the room first
(:func:`_hold_room`) and read the floor and the queue after it, so two at once take turns;
the database keeps at most one speaking turn per session and one raised hand per
participant (partial unique indexes) whatever a writer does.

Services flush; the caller commits, then broadcasts the returned events.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable

from sqlalchemy import bindparam, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, lazyload
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from core import events
from core.db import lock_row, utcnow
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.i18n import N_
from core.models import ConsultationSession, Member
from core.models.live import (FloorRequest, LiveConnection, LiveEvent, LiveMessage, LiveProcess, LiveRoom,
                              Participant)
from core.models.member import Role
from core.models.session import SessionStatus
from core.services import sessions as sessions_service
from core.services.access import has_role

log = logging.getLogger("courtyard.live")

MAX_MESSAGE_LENGTH = 1000
MAX_PIN_LENGTH = 500
MAX_REASON_LENGTH = 300
MAX_NAME_LENGTH = 40
MAX_SPEAKING_SECONDS = 3600
#: per participant: at most this many messages in the window
MESSAGE_BURST = 5
MESSAGE_WINDOW = timedelta(seconds=10)
#: a reconnecting client that missed more than this gets a fresh snapshot instead
MAX_REPLAY = 500

HOST, DEPARTMENT, RESIDENT, GUEST = "host", "department", "resident", "guest"
#: how a floor ended (``FloorRequest.ended_by``; ``reason`` of a ``floor_released`` event)
ENDED_BY_TIME, ENDED_BY_HOST, ENDED_BY_NEXT, ENDED_BY_CLOSE = "time", "host", "next", "closed"


class TooFast(Invalid):
    """Too many messages in a short time."""

    status = 429
    default_message = N_("You are sending messages too quickly; wait a moment.")


@dataclass
class Joined:
    participant: Participant
    guest_token: str | None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def brief(p: Participant) -> dict[str, Any]:
    return {"id": p.id, "name": p.display_name, "role": p.role}


def room_role(db: Session, member: Member, session: ConsultationSession) -> str:
    if sessions_service.can_run(db, member, session):
        return HOST
    if has_role(db, member, {Role.DEPARTMENT}, community_id=session.community_id):
        return DEPARTMENT
    return RESIDENT


def is_host(p: Participant) -> bool:
    return p.role == HOST


def require_host(p: Participant) -> None:
    if not is_host(p):
        raise Forbidden(N_("Only the host or a moderator can do this."))


# ---------------------------------------------------------------------------
# the event log


def get_room(db: Session, session_id: int) -> LiveRoom:
    room = db.get(LiveRoom, session_id)
    if room is None:
        try:
            with db.begin_nested():
                room = LiveRoom(session_id=session_id, last_seq=0)
                db.add(room)
                db.flush()
        except IntegrityError:  # another writer created it first
            room = db.get(LiveRoom, session_id)
            assert room is not None
    return room


def _next_seq(db: Session, session_id: int) -> int:
    seq = db.execute(update(LiveRoom).where(LiveRoom.session_id == session_id)
                     .values(last_seq=LiveRoom.last_seq + 1).returning(LiveRoom.last_seq)
                     .execution_options(synchronize_session=False)).scalar()
    if seq is None:
        get_room(db, session_id)
        return _next_seq(db, session_id)
    room = db.identity_map.get(identity_key(LiveRoom, session_id))  # loaded already? (no query if not)
    if room is not None:
        db.expire(room, ["last_seq"])
    return seq


def append_event(db: Session, *, session_id: int, kind: str, payload: dict[str, Any],
                 participant: Participant | None = None, client_key: str | None = None,
                 now: datetime | None = None) -> LiveEvent:
    """Store one event with the next sequence number of its session."""
    seq = _next_seq(db, session_id)
    event = LiveEvent(session_id=session_id, seq=seq, kind=kind, payload=payload,
                      participant_id=participant.id if participant else None, client_key=client_key,
                      created_at=now or utcnow())
    db.add(event)
    db.flush()
    return event


def client_key(participant: Participant, client_id: str) -> str:
    return f"{participant.id}:{client_id}"


def find_event(db: Session, *, session_id: int, key: str) -> LiveEvent | None:
    """The event a previous attempt of the same client emit stored, if any."""
    return db.scalar(select(LiveEvent).where(LiveEvent.session_id == session_id, LiveEvent.client_key == key))


def events_since(db: Session, *, session_id: int, after: int, limit: int = MAX_REPLAY,
                 upto: int | None = None) -> list[Any]:
    """Events after ``after`` (and up to ``upto``) in order, at most ``limit``, as rows with
    ``seq``, ``kind``, ``payload`` and ``created_at``; :func:`event_dict` with
    :func:`hidden_message_ids` leaves out the bodies of hidden messages for non-hosts."""
    # rows, not ORM objects: a storm of re-joins each replays up to MAX_REPLAY of them
    query = select(LiveEvent.seq, LiveEvent.kind, LiveEvent.payload, LiveEvent.created_at).where(
        LiveEvent.session_id == session_id, LiveEvent.seq > after)
    if upto is not None:
        query = query.where(LiveEvent.seq <= upto)
    return list(db.execute(query.order_by(LiveEvent.seq).limit(limit)))


def find_room(db: Session, session_id: int) -> LiveRoom | None:
    """The session's room if it has one (no event yet: none; nothing is created)."""
    return db.get(LiveRoom, session_id)


def last_seq(db: Session, session_id: int) -> int:
    room = db.get(LiveRoom, session_id)
    return room.last_seq if room else 0


def event_dict(event: LiveEvent, *, viewer: Participant | None = None,
               hidden_ids: set[int] | None = None) -> dict[str, Any]:
    payload = event.payload
    if (event.kind == "message" and hidden_ids and payload.get("id") in hidden_ids
            and not (viewer is not None and is_host(viewer))):
        payload = {**payload, "body": "", "hidden": True}
    return {"seq": event.seq, "kind": event.kind, "data": payload, "at": event.created_at.isoformat()}


def hidden_message_ids(db: Session, session_id: int) -> set[int]:
    return set(db.scalars(select(LiveMessage.id).where(LiveMessage.session_id == session_id,
                                                       LiveMessage.hidden_at.is_not(None))))


# ---------------------------------------------------------------------------
# joining and presence


def session_by_code(db: Session, code: str) -> ConsultationSession:
    """The open session of a join code (:func:`core.services.sessions.session_by_join_code`)
    in one query: its host and agenda are loaded only if asked for (a snapshot), not on
    every one of a storm of re-joins."""
    normalised = code.strip().upper().replace(" ", "").replace("-", "")
    session = db.scalar(select(ConsultationSession).where(ConsultationSession.join_code == normalised)
                        .options(lazyload(ConsultationSession.host), lazyload(ConsultationSession.agenda)))
    if session is None or session.status == SessionStatus.CLOSED.value:
        raise NotFound(N_("No open session has this code."), field="code")
    return session


def context(db: Session, *, session_id: int, participant_id: int) -> tuple[ConsultationSession, Participant]:
    session = sessions_service.get_session(db, session_id)
    participant = db.get(Participant, participant_id)
    if participant is None or participant.session_id != session.id:
        raise Forbidden(N_("Join the session first."))
    return session, participant


def join(db: Session, *, session: ConsultationSession, member: Member | None, sid: str,
         guest_name: str | None = None, guest_token: str | None = None, now: datetime | None = None,
         process_id: str | None = None, new_connection: bool = False) -> Joined:
    """Join ``session`` as ``member``, or as a guest (a returning guest brings their token).
    Records attendance and presence (the connection ``sid``, held by the server process
    ``process_id``); returns the participant and, for a new guest, the token to keep.

    Nobody is told here: the caller announces the participant with
    :func:`announce_presence` (the ``/live`` namespace coalesces the joins and leaves of a
    room into one announcement every few hundred milliseconds). ``new_connection``: the
    caller knows ``sid`` has no row yet (its first join on this connection), so it is not
    looked up."""
    now = now or utcnow()
    if session.status not in (SessionStatus.SCHEDULED.value, SessionStatus.LIVE.value):
        raise NotFound(N_("No open session has this code."), field="code")
    new_token = None
    if member is not None:
        if member.community_id != session.community_id or not member.active:
            if not session.allow_guests:
                raise Forbidden(N_("Only members of this community can join this session."))
            member = None
    participant: Participant | None = None
    if member is not None:
        role = room_role(db, member, session)
        participant = db.scalar(select(Participant).where(Participant.session_id == session.id,
                                                          Participant.member_id == member.id))
        if participant is None:
            participant = Participant(session_id=session.id, member_id=member.id, display_name=member.display_name,
                                      role=role, first_seen=now, last_seen=now)
            try:
                # added inside the savepoint: begin_nested() flushes what is pending first, and
                # a failed insert there would poison the whole transaction
                with db.begin_nested():
                    db.add(participant)
                    db.flush()
            except IntegrityError:  # the same member joined from two phones at once
                participant = db.scalar(select(Participant).where(Participant.session_id == session.id,
                                                                  Participant.member_id == member.id))
                assert participant is not None
        participant.role = role
    else:
        if guest_token:
            participant = db.scalar(select(Participant).where(Participant.guest_token_hash == _hash(guest_token)))
            if participant is not None and participant.session_id != session.id:
                participant = None
        if participant is None:
            if not session.allow_guests:
                raise Forbidden(N_("Please sign in to join this session."))
            name = (guest_name or "").strip()
            if not name:
                raise Invalid(N_("Tell us your name to join as a guest."), field="guest_name")
            if len(name) > MAX_NAME_LENGTH:
                raise Invalid(N_("Use at most %(max)s characters."), field="guest_name", max=MAX_NAME_LENGTH)
            new_token = secrets.token_urlsafe(24)
            participant = Participant(session_id=session.id, member_id=None, display_name=name, role=GUEST,
                                      guest_token_hash=_hash(new_token), first_seen=now, last_seen=now)
            db.add(participant)
            db.flush()
    participant.last_seen = now
    if new_connection or db.get(LiveConnection, sid) is None:
        db.add(LiveConnection(sid=sid, session_id=session.id, participant_id=participant.id, connected_at=now,
                              process_id=process_id))
    db.flush()
    return Joined(participant, new_token)


def check_in(db: Session, *, actor: Member, session: ConsultationSession, member: Member,
             now: datetime | None = None) -> tuple[Participant, LiveEvent | None]:
    """The session's host (or staff, or a community-wide host) checks a resident in at the
    door (签到) — one who came without a phone, so that the host may record their vote
    (``core.services.votes``: an assisted vote needs the resident checked in at the
    motion's session). It records attendance — the participant row a join makes, without
    a connection — and, the first time, a ``checked_in`` event naming who checked whom in,
    in the session's record. Checking in someone already there changes nothing."""
    now = now or utcnow()
    if not (sessions_service.can_run(db, actor, session)
            or has_role(db, actor, {Role.HOST}, community_id=session.community_id)):
        raise Forbidden(N_("Only the session's host or staff can check a resident in."))
    if session.status not in (SessionStatus.SCHEDULED.value, SessionStatus.LIVE.value):
        raise Conflict(N_("Residents are checked in while the session is on."), field="session_id")
    if member.community_id != session.community_id or not member.active:
        raise NotFound(N_("Not found."), field="member_id")
    participant = db.scalar(select(Participant).where(Participant.session_id == session.id,
                                                      Participant.member_id == member.id))
    if participant is not None:
        return participant, None
    participant = Participant(session_id=session.id, member_id=member.id, display_name=member.display_name,
                              role=room_role(db, member, session), first_seen=now, last_seen=now)
    try:
        with db.begin_nested():
            db.add(participant)
            db.flush()
    except IntegrityError:  # they joined on their own phone at the same moment
        found = db.scalar(select(Participant).where(Participant.session_id == session.id,
                                                    Participant.member_id == member.id))
        assert found is not None
        return found, None
    event = append_event(db, session_id=session.id, kind="checked_in", now=now,
                         payload={"participant": brief(participant), "by": actor.display_name})
    return participant, event


def is_checked_in(db: Session, *, session_id: int, member_id: int) -> bool:
    """Whether the member is in the session's attendance record (joined the live room, or
    was checked in by the host)."""
    return bool(db.scalar(select(select(Participant.id).where(Participant.session_id == session_id,
                                                               Participant.member_id == member_id).exists())))


def _is_online(db: Session, participant_id: int) -> bool:
    return db.scalar(select(func.count()).select_from(LiveConnection)
                     .where(LiveConnection.participant_id == participant_id)) > 0


def online_count(db: Session, session_id: int) -> int:
    return db.scalar(select(func.count(func.distinct(LiveConnection.participant_id)))
                     .where(LiveConnection.session_id == session_id)) or 0


def online(db: Session, session_id: int) -> list[Participant]:
    ids = select(LiveConnection.participant_id).where(LiveConnection.session_id == session_id)
    return list(db.scalars(select(Participant).where(Participant.id.in_(ids)).order_by(Participant.display_name)))


def _lock_room(db: Session, session_id: int, *, create: bool = False) -> None:
    """Serialise presence announcements of one session: on PostgreSQL a row lock on the
    room, taken before the connection rows are deleted (the order every writer takes them
    in). On SQLite the write lock does it. ``create``: make the room first if it has none."""
    found = db.execute(select(LiveRoom.session_id).where(LiveRoom.session_id == session_id)
                       .with_for_update()).first()
    if found is None and create:
        get_room(db, session_id)
        _lock_room(db, session_id)


def _forget_connections(db: Session) -> None:
    """Drop LiveConnection objects deleted behind the ORM's back by a bulk DELETE."""
    for conn in [o for o in db.identity_map.values() if isinstance(o, LiveConnection)]:
        db.expunge(conn)


def _presence_event(db: Session, *, session_id: int, participant_ids: Iterable[int], now: datetime,
                    reason: str | None = None, absent_only: bool = False) -> LiveEvent | None:
    """One ``presence`` event telling the room who of ``participant_ids`` is here now and
    who is not (with the room's count). The caller holds the room's lock (:func:`_lock_room`):
    announcements are ordered, and each tells the state at its seq, so the last one to name
    a participant is right whatever raced before it. ``absent_only``: name only those not
    here (no event when everyone is)."""
    ids = sorted(set(participant_ids))
    if not ids:
        return None
    here = set(db.scalars(select(LiveConnection.participant_id).where(
        LiveConnection.session_id == session_id, LiveConnection.participant_id.in_(ids)).distinct()))
    if absent_only and here.issuperset(ids):
        return None
    people = sorted(db.scalars(select(Participant).where(Participant.id.in_(ids))),
                    key=lambda p: (p.display_name, p.id))
    present = [] if absent_only else [brief(p) for p in people if p.id in here]
    payload: dict[str, Any] = {"present": present, "absent": [p.id for p in people if p.id not in here],
                               "count": online_count(db, session_id)}
    if reason:
        payload["reason"] = reason
    event = LiveEvent(session_id=session_id, seq=_next_seq(db, session_id), kind="presence", payload=payload,
                      participant_id=None, created_at=now)
    db.add(event)
    db.flush()
    return event


def announce_presence(db: Session, *, changes: dict[int, Iterable[int]],
                      left: dict[str, datetime] | None = None, now: datetime | None = None) -> list[LiveEvent]:
    """Record closed connections and tell each room who is here, in one transaction.

    ``left``: connection sid → when it closed; the rows are deleted and each participant's
    attendance ``last_seen`` becomes the time their connection closed. ``changes``: session id →
    participants who joined or left there since the last announcement (including those of
    ``left``). Every room gets at most one ``presence`` event, ``{present: [participants
    here now], absent: [ids not here], count}``, whatever number of joins and leaves it
    covers — so N phones coming back make a handful of events, not N, and a join racing a
    leave of the same participant on another process ends with the right state: each
    event tells the current state, and the process whose change was last announces last."""
    now = now or utcnow()
    rooms = sorted(changes)
    for session_id in rooms:  # rooms first, then connections: the order the sweep uses
        _lock_room(db, session_id, create=True)
    if left:
        gone = db.execute(delete(LiveConnection).where(LiveConnection.sid.in_(sorted(left)))
                          .returning(LiveConnection.sid, LiveConnection.participant_id)
                          .execution_options(synchronize_session=False)).all()
        _forget_connections(db)
        seen: dict[int, datetime] = {}
        for sid, participant_id in gone:
            seen[participant_id] = max(left[sid], seen.get(participant_id, left[sid]))
        if seen:  # (a later join of the same participant may have set a later time already)
            table = Participant.__table__
            db.execute(update(table).where(table.c.id == bindparam("pid"), table.c.last_seen < bindparam("seen"))
                       .values(last_seen=bindparam("seen")),
                       [{"pid": pid, "seen": at} for pid, at in sorted(seen.items())])
    events = []
    for session_id in rooms:
        event = _presence_event(db, session_id=session_id, participant_ids=changes[session_id], now=now)
        if event is not None:
            events.append(event)
    return events


# ---------------------------------------------------------------------------
# server processes: heartbeats, and sweeping the connections of dead ones


def register_process(db: Session, *, process_id: str, now: datetime | None = None) -> None:
    """Record a server process that starts serving (again)."""
    now = now or utcnow()
    row = db.get(LiveProcess, process_id)
    if row is None:
        db.add(LiveProcess(id=process_id, started_at=now, heartbeat_at=now))
    else:
        row.heartbeat_at = now
    db.flush()


def heartbeat(db: Session, *, process_id: str, now: datetime | None = None) -> bool:
    """Bump the process's heartbeat. False when its row is gone: another process took it
    for dead and swept its connections (it was paused longer than the timeout); the
    caller registers again and :func:`restore_connections`."""
    result = db.execute(update(LiveProcess).where(LiveProcess.id == process_id)
                        .values(heartbeat_at=now or utcnow()).execution_options(synchronize_session=False))
    return result.rowcount == 1


def restore_connections(db: Session, *, process_id: str, connections: dict[str, tuple[int, int]],
                        now: datetime | None = None) -> list[LiveEvent]:
    """Record again the connections (sid → (session id, participant id)) this process
    still holds but another process swept; those who come back online are announced."""
    now = now or utcnow()
    back: dict[int, set[int]] = {}
    for sid, (session_id, participant_id) in sorted(connections.items()):
        if db.get(LiveConnection, sid) is not None:
            continue
        session = db.get(ConsultationSession, session_id)
        participant = db.get(Participant, participant_id)
        if session is None or participant is None or session.status not in (SessionStatus.SCHEDULED.value,
                                                                             SessionStatus.LIVE.value):
            continue
        db.add(LiveConnection(sid=sid, session_id=session_id, participant_id=participant_id, connected_at=now,
                              process_id=process_id))
        back.setdefault(session_id, set()).add(participant_id)
    db.flush()
    return announce_presence(db, changes=back, now=now)


def sweep_dead_processes(db: Session, *, stale_after: timedelta, keep: str | None = None,
                         now: datetime | None = None) -> list[LiveEvent]:
    """Forget the server processes whose heartbeat is older than ``stale_after`` (but
    never ``keep``, the caller) and drop the connections no live process holds; everyone
    who is thereby no longer present is announced as gone (``reason: "lost"``).

    Both are ``DELETE … RETURNING``: when two processes sweep at once, each row is deleted
    by one of them, and only that one tells the room."""
    now = now or utcnow()
    stale = [LiveProcess.heartbeat_at < now - stale_after]
    if keep is not None:
        stale.append(LiveProcess.id != keep)
    dead = db.execute(delete(LiveProcess).where(*stale)
                      .returning(LiveProcess.id, LiveProcess.heartbeat_at)
                      .execution_options(synchronize_session=False)).all()
    last_beat = {pid: beat for pid, beat in dead}
    orphaned = or_(LiveConnection.process_id.is_(None), LiveConnection.process_id.not_in(select(LiveProcess.id)))
    locked = sorted(db.scalars(select(LiveConnection.session_id).where(orphaned).distinct()))
    for session_id in locked:  # rooms first, then connections: the order every writer uses
        _lock_room(db, session_id)
    gone = db.execute(delete(LiveConnection).where(orphaned)
                      .returning(LiveConnection.session_id, LiveConnection.participant_id,
                                 LiveConnection.process_id)
                      .execution_options(synchronize_session=False)).all()
    if not gone:
        return []
    _forget_connections(db)
    lost: dict[int, dict[int, datetime | None]] = {}
    for session_id, participant_id, process_id in gone:
        seen = lost.setdefault(session_id, {})
        beats = [b for b in (seen.get(participant_id), last_beat.get(process_id)) if b is not None]
        seen[participant_id] = max(beats) if beats else None
    events: list[LiveEvent] = []
    for session_id in sorted(lost):
        if session_id not in locked:  # orphaned since we looked (rare): lock it now
            _lock_room(db, session_id)
        for participant_id, beat in sorted(lost[session_id].items()):
            participant = db.get(Participant, participant_id)
            if participant is not None and beat is not None and beat > participant.last_seen:
                participant.last_seen = beat  # last heard of when its process last answered
        db.flush()
        # those still connected elsewhere are not named; the others are "lost"
        event = _presence_event(db, session_id=session_id, participant_ids=lost[session_id], now=now,
                                reason="lost", absent_only=True)
        if event is not None:
            events.append(event)
    log.info("swept %s connection(s) of %s dead process(es)", len(gone), len(dead))
    return events


# ---------------------------------------------------------------------------
# the discussion


def _require_live(session: ConsultationSession) -> None:
    if session.status != SessionStatus.LIVE.value:
        raise Conflict(N_("The session is not open."), field="status")


def _hold_room(db: Session, session_id: int) -> LiveRoom:
    """Lock the session's room (made first if it has none) for the rest of the
    transaction and return it freshly read: the row lock on PostgreSQL, the write lock on
    SQLite (:func:`core.db.lock_row`). Whoever decides from the floor or the queue takes
    this before reading them, so two grants (or two raised hands) at once take turns
    instead of both acting on what they read before the other wrote."""
    room = lock_row(db, LiveRoom, session_id)
    if room is None:
        get_room(db, session_id)
        room = lock_row(db, LiveRoom, session_id)
        assert room is not None
    return room


def _held_floor(db: Session, session: ConsultationSession) -> FloorRequest | None:
    """Lock the room (:func:`_hold_room`), then read the session's status and the turn
    holding the floor as they are now (not as this transaction saw them before)."""
    room = _hold_room(db, session.id)
    # the status only (the session's other columns, and its version, are not ours to reload)
    status = db.scalar(select(ConsultationSession.status).where(ConsultationSession.id == session.id))
    set_committed_value(session, "status", status)
    if room.floor_request_id is None:
        return None
    return db.get(FloorRequest, room.floor_request_id, populate_existing=True)


def _floor(db: Session, session_id: int) -> FloorRequest | None:
    room = db.get(LiveRoom, session_id)
    if room is None or room.floor_request_id is None:
        return None
    return db.get(FloorRequest, room.floor_request_id)


def floor_ends_at(request: FloorRequest) -> datetime | None:
    """When the speaking time given with the floor runs out (None: no limit)."""
    if request.seconds and request.granted_at:
        return request.granted_at + timedelta(seconds=request.seconds)
    return None


def _time_is_up(request: FloorRequest | None, now: datetime) -> bool:
    ends = floor_ends_at(request) if request is not None else None
    return ends is not None and ends <= now


def post_message(db: Session, *, session: ConsultationSession, participant: Participant, body: str,
                 reply_to_id: int | None = None, key: str | None = None, now: datetime | None = None) -> LiveEvent:
    now = now or utcnow()
    _require_live(session)
    if not body.strip():
        raise Invalid(N_("Write something first."), field="body")
    if len(body) > MAX_MESSAGE_LENGTH:
        raise Invalid(N_("Use at most %(max)s characters."), field="body", max=MAX_MESSAGE_LENGTH)
    recent = db.scalar(select(func.count()).select_from(LiveMessage).where(
        LiveMessage.participant_id == participant.id, LiveMessage.created_at > now - MESSAGE_WINDOW))
    if recent >= MESSAGE_BURST and not is_host(participant):
        raise TooFast()
    if reply_to_id is not None:
        parent = db.get(LiveMessage, reply_to_id)
        if parent is None or parent.session_id != session.id:
            raise NotFound(N_("No such message in this session."), field="reply_to")
    floor = _floor(db, session.id)
    from_floor = bool(floor and floor.participant_id == participant.id and not _time_is_up(floor, now))
    room = get_room(db, session.id)
    seq = _next_seq(db, session.id)
    message = LiveMessage(session_id=session.id, participant_id=participant.id, body=body, reply_to_id=reply_to_id,
                          from_floor=from_floor, agenda_position=room.agenda_position, seq=seq, created_at=now)
    db.add(message)
    db.flush()
    event = LiveEvent(session_id=session.id, seq=seq, kind="message", participant_id=participant.id, client_key=key,
                      created_at=now, payload={"id": message.id, "participant": brief(participant), "body": body,
                                               "reply_to": reply_to_id, "from_floor": from_floor,
                                               "agenda_position": room.agenda_position})
    db.add(event)
    db.flush()
    participant.last_seen = now
    events.queue(db, "courtyard_message_posted", community_id=session.community_id, session=session,
                 message=message, participant=participant)
    return event


def hide_message(db: Session, *, session: ConsultationSession, participant: Participant, message_id: int,
                 reason: str, key: str | None = None, now: datetime | None = None) -> LiveEvent:
    now = now or utcnow()
    require_host(participant)
    _hold_room(db, session.id)  # two moderators hiding one message at once: the second is told
    message = db.get(LiveMessage, message_id, populate_existing=True)
    if message is None or message.session_id != session.id:
        raise NotFound(N_("No such message in this session."), field="message_id")
    if message.hidden_at is not None:
        raise Conflict(N_("This message is already hidden."), field="message_id")
    if not reason.strip():
        raise Invalid(N_("Give a reason."), field="reason")
    message.hidden_at, message.hidden_by_id, message.hidden_reason = now, participant.id, reason.strip()
    return append_event(db, session_id=session.id, kind="hidden", participant=participant, client_key=key, now=now,
                        payload={"message_id": message.id, "reason": message.hidden_reason,
                                 "by": brief(participant)})


# ---------------------------------------------------------------------------
# the golden microphone


def _waiting(db: Session, session_id: int, participant_id: int) -> FloorRequest | None:
    return db.scalar(select(FloorRequest).where(FloorRequest.session_id == session_id,
                                                FloorRequest.participant_id == participant_id,
                                                FloorRequest.status == "waiting"))


def raise_hand(db: Session, *, session: ConsultationSession, participant: Participant, key: str | None = None,
               now: datetime | None = None) -> LiveEvent:
    now = now or utcnow()
    floor = _held_floor(db, session)  # the room first: a double tap raises one hand
    _require_live(session)
    if _waiting(db, session.id, participant.id) is not None:
        raise Conflict(N_("Your hand is already raised."))
    if floor is not None and floor.participant_id == participant.id and not _time_is_up(floor, now):
        raise Conflict(N_("You have the floor already."))
    request = FloorRequest(session_id=session.id, participant_id=participant.id, status="waiting", raised_at=now)
    db.add(request)
    db.flush()
    return append_event(db, session_id=session.id, kind="hand_raised", participant=participant, client_key=key,
                        now=now, payload={"request_id": request.id, "participant": brief(participant),
                                          "raised_at": now.isoformat()})


def lower_hand(db: Session, *, session: ConsultationSession, participant: Participant, key: str | None = None,
               now: datetime | None = None) -> LiveEvent:
    now = now or utcnow()
    _hold_room(db, session.id)  # the room first, as grant_floor takes it: one of two lowers wins
    request = _waiting(db, session.id, participant.id)
    if request is None:
        raise Conflict(N_("Your hand is not raised."))
    request.status, request.ended_at = "withdrawn", now
    return append_event(db, session_id=session.id, kind="hand_lowered", participant=participant, client_key=key,
                        now=now, payload={"request_id": request.id, "participant_id": participant.id})


def queue(db: Session, session_id: int) -> list[tuple[FloorRequest, Participant]]:
    rows = db.execute(select(FloorRequest, Participant).join(Participant, FloorRequest.participant_id == Participant.id)
                      .where(FloorRequest.session_id == session_id, FloorRequest.status == "waiting")
                      .order_by(FloorRequest.raised_at, FloorRequest.id))
    return [(r, p) for r, p in rows]


def _take_floor_back(db: Session, session_id: int, request: FloorRequest, *, ended_by: str,
                     ended_at: datetime) -> bool:
    """End ``request``'s turn if it still holds the floor. A conditional ``UPDATE`` on the
    room: of several racers (the timers and sweeps of every process, the host's button,
    a new grant) exactly one sees a row changed and may announce it."""
    taken = db.execute(update(LiveRoom).where(LiveRoom.session_id == session_id,
                                              LiveRoom.floor_request_id == request.id)
                       .values(floor_request_id=None).execution_options(synchronize_session=False)).rowcount == 1
    room = db.get(LiveRoom, session_id)
    if room is not None:
        db.expire(room, ["floor_request_id"])
    if taken:
        db.execute(update(FloorRequest).where(FloorRequest.id == request.id, FloorRequest.status == "speaking")
                   .values(status="done", ended_at=ended_at, ended_by=ended_by)
                   .execution_options(synchronize_session=False))
        db.expire(request, ["status", "ended_at", "ended_by"])
    return taken


def _released(db: Session, session_id: int, request: FloorRequest, *, reason: str, now: datetime,
              participant: Participant | None = None, key: str | None = None) -> LiveEvent:
    speaker = db.get(Participant, request.participant_id)
    return append_event(db, session_id=session_id, kind="floor_released", participant=participant, client_key=key,
                        now=now, payload={"request_id": request.id, "participant_id": request.participant_id,
                                          "participant": brief(speaker) if speaker else None, "reason": reason,
                                          "ended_at": request.ended_at.isoformat() if request.ended_at else None})


def grant_floor(db: Session, *, session: ConsultationSession, participant: Participant, to_participant_id: int,
                seconds: int | None = None, key: str | None = None, now: datetime | None = None) -> LiveEvent:
    """Give the microphone to one participant (whether or not their hand is raised:
    a department at a golden-microphone forum is called like anyone else)."""
    now = now or utcnow()
    require_host(participant)
    _require_live(session)
    speaker = db.get(Participant, to_participant_id)
    if speaker is None or speaker.session_id != session.id:
        raise NotFound(N_("No such participant in this session."), field="participant_id")
    if seconds is not None and not 10 <= seconds <= MAX_SPEAKING_SECONDS:
        raise Invalid(N_("Speaking time is between 10 seconds and an hour."), field="seconds")
    # the room is locked before the floor is read: of two grants at once, the second
    # waits, then takes the floor back from the first one's speaker
    current = _held_floor(db, session)
    _require_live(session)
    if current is not None:  # the previous speaker's turn ends (floor_granted says so)
        ran_out = _time_is_up(current, now)
        if not _take_floor_back(db, session.id, current, ended_by=ENDED_BY_TIME if ran_out else ENDED_BY_NEXT,
                                ended_at=floor_ends_at(current) if ran_out else now):
            # (not expected under the lock) never leave two turns speaking
            raise Conflict(N_("The floor changed just now; look again and try again."))
    request = _waiting(db, session.id, speaker.id)
    if request is None:
        request = FloorRequest(session_id=session.id, participant_id=speaker.id, raised_at=now)
        db.add(request)
    request.status, request.granted_at, request.seconds = "speaking", now, seconds
    db.flush()
    get_room(db, session.id).floor_request_id = request.id
    ends_at = (now + timedelta(seconds=seconds)).isoformat() if seconds else None
    return append_event(db, session_id=session.id, kind="floor_granted", participant=participant, client_key=key,
                        now=now, payload={"request_id": request.id, "participant": brief(speaker),
                                          "seconds": seconds, "granted_at": now.isoformat(), "ends_at": ends_at})


def revoke_floor(db: Session, *, session: ConsultationSession, participant: Participant, key: str | None = None,
                 now: datetime | None = None) -> LiveEvent:
    """The host takes the floor back. Racing the timer (or another host), one of them
    releases it; the other finds nobody has the floor."""
    now = now or utcnow()
    require_host(participant)
    current = _floor(db, session.id)
    if current is None or not _take_floor_back(db, session.id, current, ended_by=ENDED_BY_HOST, ended_at=now):
        raise Conflict(N_("Nobody has the floor."))
    return _released(db, session.id, current, reason=ENDED_BY_HOST, now=now, participant=participant, key=key)


def expire_floor(db: Session, *, session_id: int, request_id: int | None = None,
                 now: datetime | None = None) -> LiveEvent | None:
    """Take the floor back if its speaking time has run out (and, with ``request_id``,
    only if that turn still holds it): a ``floor_released`` event with ``reason: "time"``,
    or None when there is nothing to do or another process did it first. Called by the
    timer set when the floor was given, and lazily (joins, snapshots, the periodic sweep)
    so a floor outlives no process restart."""
    now = now or utcnow()
    current = _floor(db, session_id)
    if current is None or (request_id is not None and current.id != request_id) or not _time_is_up(current, now):
        return None
    ends = floor_ends_at(current)
    assert ends is not None
    if not _take_floor_back(db, session_id, current, ended_by=ENDED_BY_TIME, ended_at=ends):
        return None
    return _released(db, session_id, current, reason=ENDED_BY_TIME, now=now)


def timed_floors(db: Session) -> list[tuple[int, int, datetime]]:
    """(session id, request id, ends at) of every floor held with a speaking time."""
    rows = db.execute(select(LiveRoom.session_id, FloorRequest).join(
        FloorRequest, FloorRequest.id == LiveRoom.floor_request_id).where(FloorRequest.seconds.is_not(None)))
    out = []
    for session_id, request in rows:
        ends = floor_ends_at(request)
        if ends is not None:
            out.append((session_id, request.id, ends))
    return out


# ---------------------------------------------------------------------------
# host controls


def set_agenda(db: Session, *, session: ConsultationSession, participant: Participant, position: int,
               key: str | None = None, now: datetime | None = None) -> LiveEvent:
    require_host(participant)
    items = {item.position: item for item in session.agenda}
    if position not in items:
        raise NotFound(N_("No such agenda item."), field="position")
    get_room(db, session.id).agenda_position = position
    return append_event(db, session_id=session.id, kind="agenda", participant=participant, client_key=key, now=now,
                        payload={"position": position, "title": items[position].title})


def pin(db: Session, *, session: ConsultationSession, participant: Participant, text: str | None,
        key: str | None = None, now: datetime | None = None) -> LiveEvent:
    require_host(participant)
    text = (text or "").strip() or None
    if text is not None and len(text) > MAX_PIN_LENGTH:
        raise Invalid(N_("Use at most %(max)s characters."), field="text", max=MAX_PIN_LENGTH)
    get_room(db, session.id).pinned = text
    return append_event(db, session_id=session.id, kind="pinned", participant=participant, client_key=key, now=now,
                        payload={"text": text})


def set_status(db: Session, *, session: ConsultationSession, participant: Participant, member: Member | None,
               status: str, pm: Any = None, key: str | None = None, now: datetime | None = None) -> LiveEvent:
    """Open (live) or close the session. Closing compiles and freezes the minutes."""
    now = now or utcnow()
    require_host(participant)
    if status not in (SessionStatus.LIVE.value, SessionStatus.CLOSED.value):
        raise Invalid(N_("A session can be opened or closed here."), field="status")
    # the room before the session's row: a grant holding the room inserts rows that refer to
    # the session, which wait for the UPDATE of its join code (a key) — the other order
    # deadlocks on PostgreSQL
    room = _hold_room(db, session.id)
    sessions_service.change_status(db, actor=member, session=session, status=status, now=now)
    if status == SessionStatus.CLOSED.value:
        current = _floor(db, session.id)  # read under the lock: a grant racing the close is refused or ended
        if current is not None:
            ran_out = _time_is_up(current, now)
            _take_floor_back(db, session.id, current, ended_by=ENDED_BY_TIME if ran_out else ENDED_BY_CLOSE,
                             ended_at=floor_ends_at(current) if ran_out else now)
        for request, _ in queue(db, session.id):
            request.status, request.ended_at = "withdrawn", now
        _lock_room(db, session.id)  # the room before its connections, as presence takes them
        db.execute(LiveConnection.__table__.delete().where(LiveConnection.session_id == session.id))
    event = append_event(db, session_id=session.id, kind="status", participant=participant, client_key=key, now=now,
                         payload={"status": status})
    if status == SessionStatus.CLOSED.value:
        room.minutes = build_minutes(db, session=session, pm=pm, now=now)
        db.flush()
    return event


# ---------------------------------------------------------------------------
# what a client sees when it (re)joins


def snapshot(db: Session, *, session: ConsultationSession, viewer: Participant, now: datetime | None = None,
             recent: int = 200) -> dict[str, Any]:
    now = now or utcnow()
    room = get_room(db, session.id)
    here = online(db, session.id)
    messages = list(db.scalars(select(LiveMessage).where(LiveMessage.session_id == session.id)
                               .order_by(LiveMessage.seq.desc()).limit(recent)))
    messages.reverse()
    names = {p.id: p for p in db.scalars(select(Participant).where(
        Participant.id.in_({m.participant_id for m in messages})))}
    host = is_host(viewer)
    floor = _floor(db, session.id)
    floor_p = db.get(Participant, floor.participant_id) if floor else None
    state: dict[str, Any] = {
        "seq": room.last_seq,
        "server_now": now.isoformat(),
        "session": {"id": session.id, "title": session.title, "status": session.status,
                    "format": session.format_key, "allow_guests": session.allow_guests},
        "agenda": [{"position": i.position, "title": i.title} for i in session.agenda],
        "agenda_position": room.agenda_position,
        "pinned": room.pinned,
        "present": [brief(p) for p in here],
        "count": len(here),
        "messages": [_message_dict(m, names.get(m.participant_id), host) for m in messages],
        "queue": [{"request_id": r.id, "participant": brief(p), "raised_at": r.raised_at.isoformat()}
                  for r, p in queue(db, session.id)],
        "floor": None,
    }
    if floor is not None and floor_p is not None:
        ends = floor_ends_at(floor)
        state["floor"] = {"request_id": floor.id, "participant": brief(floor_p), "seconds": floor.seconds,
                          "granted_at": floor.granted_at.isoformat() if floor.granted_at else None,
                          "ends_at": ends.isoformat() if ends else None}
    if host:
        state["attendance"] = attendance(db, session.id)
    return state


def _message_dict(m: LiveMessage, p: Participant | None, host: bool) -> dict[str, Any]:
    hidden = m.hidden_at is not None
    d = {"id": m.id, "seq": m.seq, "participant": brief(p) if p else None, "body": m.body, "reply_to": m.reply_to_id,
         "from_floor": m.from_floor, "agenda_position": m.agenda_position, "at": m.created_at.isoformat()}
    if hidden:
        d["hidden"] = True
        d["hidden_reason"] = m.hidden_reason
        if not host:
            d["body"] = ""
    return d


def attendance(db: Session, session_id: int) -> list[dict[str, Any]]:
    here = {p.id for p in online(db, session_id)}
    rows = db.scalars(select(Participant).where(Participant.session_id == session_id)
                      .order_by(Participant.first_seen, Participant.id))
    return [{**brief(p), "guest": p.member_id is None, "first_seen": p.first_seen.isoformat(),
             "last_seen": p.last_seen.isoformat(), "online": p.id in here} for p in rows]


# ---------------------------------------------------------------------------
# minutes


def build_minutes(db: Session, *, session: ConsultationSession, pm: Any = None,
                  now: datetime | None = None) -> dict[str, Any]:
    """Compile the minutes from the record. Plugins add sections through
    ``courtyard_minutes_sections(session, db)`` (e.g. vote results)."""
    now = now or utcnow()
    room = db.get(LiveRoom, session.id)
    people = {p.id: p for p in db.scalars(select(Participant).where(Participant.session_id == session.id))}
    reached = {e.payload.get("position") for e in db.scalars(select(LiveEvent).where(
        LiveEvent.session_id == session.id, LiveEvent.kind == "agenda"))}
    floor_rows = db.scalars(select(FloorRequest).where(FloorRequest.session_id == session.id,
                                                       FloorRequest.granted_at.is_not(None))
                            .order_by(FloorRequest.granted_at, FloorRequest.id))
    pins = db.scalars(select(LiveEvent).where(LiveEvent.session_id == session.id, LiveEvent.kind == "pinned")
                      .order_by(LiveEvent.seq))
    messages = list(db.scalars(select(LiveMessage).where(LiveMessage.session_id == session.id)
                               .order_by(LiveMessage.seq)))
    minutes: dict[str, Any] = {
        "session": {"id": session.id, "title": session.title, "format": session.format_key,
                    "venue": session.venue, "starts_at": session.starts_at.isoformat(),
                    "ends_at": session.ends_at.isoformat(), "status": session.status,
                    "host": session.host.display_name if session.host else None},
        "compiled_at": now.isoformat(),
        "attendance": [{"name": p.display_name, "role": p.role, "guest": p.member_id is None,
                        "first_seen": p.first_seen.isoformat(), "last_seen": p.last_seen.isoformat()}
                       for p in sorted(people.values(), key=lambda p: (p.first_seen, p.id))],
        "agenda": [{"position": i.position, "title": i.title, "reached": i.position in reached}
                   for i in session.agenda],
        "floor": [{"name": people[r.participant_id].display_name if r.participant_id in people else "",
                   "role": people[r.participant_id].role if r.participant_id in people else "",
                   "granted_at": r.granted_at.isoformat() if r.granted_at else None,
                   "ended_at": r.ended_at.isoformat() if r.ended_at else None, "seconds": r.seconds,
                   "ended_by": r.ended_by}
                  for r in floor_rows],
        "announcements": [{"text": e.payload["text"], "at": e.created_at.isoformat()}
                          for e in pins if e.payload.get("text")],
        "discussion": [{"id": m.id, "at": m.created_at.isoformat(),
                        "name": people[m.participant_id].display_name if m.participant_id in people else "",
                        "body": m.body, "reply_to": m.reply_to_id, "from_floor": m.from_floor,
                        "agenda_position": m.agenda_position}
                       for m in messages if m.hidden_at is None],
        "hidden": [{"id": m.id, "reason": m.hidden_reason, "at": m.hidden_at.isoformat()}
                   for m in messages if m.hidden_at is not None],
        "pinned_now": room.pinned if room else None,
        "sections": list(_plugin_sections(pm, session, db)),
    }
    return minutes


def _plugin_sections(pm: Any, session: ConsultationSession, db: Session) -> Iterable[dict[str, Any]]:
    if pm is None:
        return
    from core.services.plugins import enabled_checker

    enabled = enabled_checker(db, session.community_id, pm)
    caller = pm.hook.courtyard_minutes_sections
    for impl in reversed(caller.get_hookimpls()):
        if not enabled(impl.plugin_name):
            continue
        try:
            sections = impl.function(**{k: v for k, v in {"session": session, "db": db}.items()
                                        if k in impl.argnames})
        except Exception:  # a plugin cannot take the minutes down
            log.exception("plugin %s raised in courtyard_minutes_sections", impl.plugin_name)
            continue
        for section in sections or []:
            yield {"plugin": impl.plugin_name, **section}


def minutes_for(db: Session, *, session: ConsultationSession, pm: Any = None) -> dict[str, Any]:
    """The frozen minutes of a closed session, or a preview compiled now."""
    room = db.get(LiveRoom, session.id)
    if room is not None and room.minutes is not None:
        return room.minutes
    return build_minutes(db, session=session, pm=pm)


def can_read_minutes(db: Session, member: Member | None, session: ConsultationSession) -> bool:
    if member is None or member.community_id != session.community_id:
        return False
    return True


def agenda_title(session: ConsultationSession, position: int | None) -> str | None:
    for item in session.agenda:
        if item.position == position:
            return item.title
    return None


"""Voting: motions (表决事项), ballots (选票) and receipts (回执), the ballot log (a hash
chain), results and their verification.

Services take the database session and the acting member, flush, and leave the commit to
the caller. The tally method (a :class:`core.registry.TallyMethod` a plugin contributed)
is passed in by the caller; core never imports a plugin. Ballots reach these functions
already checked by the method's ballot schema at the edge (``choice`` is the bare ballot
``load()`` returned).

One ballot per member and motion is a unique constraint. Every ballot write starts by
taking the motion's row lock (``UPDATE motions … RETURNING``), so writers of one motion
queue up, a vote cannot slip in beside the close, and a member's 50 simultaneous
submissions become one ballot and, at most, 49 changes of it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Callable, Iterable, Mapping, Sequence

from sqlalchemy import Text, bindparam, cast, delete, func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from core import events
from core.db import lock_row, utcnow
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.i18n import N_
from core.models import Community, ConsultationSession, Member, Place, RoleAssignment
from core.models.member import STAFF_ROLES, Role
from core.models.vote import (
    ELECTORATES,
    GENESIS,
    AnonymousBallot,
    Ballot,
    BallotLogEntry,
    Electorate,
    Motion,
    MotionResult,
    MotionStatus,
    MotionVoter,
    Participation,
    PendingBallot,
    Representative,
    random_id,
)
from core.services.access import get_in_community, has_role
from core.services.ballot_seal import SealError, seal_of

log = logging.getLogger("courtyard.votes")

MAX_OPTIONS = 20
MAX_OPTION_LENGTH = 100
YESNO_OPTIONS = ["yes", "no", "abstain"]
#: sealed secret ballots are written out (shuffled, in a transaction of their own) once at
#: least this many of a motion wait, and all of them when it closes (``VOTING_MIX_MIN``)
MIX_MIN = 10

# messages (one place, so translators see them together)
MSG_CLOSED = N_("This vote is closed; nothing can change any more.")
MSG_NOT_OPEN = N_("This vote has not opened yet.")
MSG_NOT_ELIGIBLE = N_("You are not among the voters of this motion.")
MSG_VOTER_NOT_ELIGIBLE = N_("This resident is not among the voters of this motion.")
MSG_MANAGE = N_("Only the session's host or staff can do this.")
MSG_ASSIST = N_("Only the session's host or staff can record a vote for a resident.")
MSG_SECRET_CHANGE = N_("You have already voted. To change a secret vote, use the phone you voted with "
                       "or type your change code.")
MSG_BAD_KEY = N_("This change code does not match a ballot of this motion.")
MSG_KEY_TAKEN = N_("This change code is already in use; let your phone make a new one.")
MSG_SECRET_LIVE = N_("A secret ballot cannot show its results while voting: each new count would show how the "
                     "last voter voted. Choose “hidden until the vote closes”.")
MSG_ASSIST_NO_SESSION = N_("A vote can be recorded for a resident only at a session; this motion belongs to none, "
                           "so the resident votes on their own phone.")
MSG_ASSIST_ABSENT = N_("This resident has not checked in at the session. Check them in first, then record "
                       "their vote.")
MSG_ASSIST_OWN_VOTE = N_("This resident has already voted themselves; their own vote stands and cannot be "
                         "replaced for them.")
MSG_ASSIST_SECRET_FINAL = N_("A secret vote recorded for a resident is final: it cannot be changed for them.")
MSG_SEALED = N_("Some secret ballots of this vote cannot be opened with this server's key (was the secret key "
                "changed while the vote was open?). Put the previous key back to go on.")


# ---------------------------------------------------------------------------
# hashing


def canonical(obj: Any) -> str:
    """The canonical JSON text of ``obj`` (sorted keys, no spaces, UTF-8 kept)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def receipt_for(motion_id: int, choice: Any, nonce: str) -> str:
    """A ballot's receipt: SHA-256 over the motion, the ballot and its random nonce."""
    return hashlib.sha256(canonical({"motion": motion_id, "choice": choice, "nonce": nonce}).encode()).hexdigest()


def entry_hash(prev_hash: str, record: Mapping[str, Any]) -> str:
    """The hash of a ballot-log entry: SHA-256 of the previous hash, a newline and the
    canonical JSON of the record."""
    return hashlib.sha256((prev_hash + "\n" + canonical(record)).encode()).hexdigest()


def replace_hash(motion_id: int, voter_key: str) -> str:
    """What an anonymous ballot stores of its voter's change code."""
    return hashlib.sha256(f"courtyard-replace:{motion_id}:{voter_key}".encode()).hexdigest()


def open_sealed(db: Session, motion_id: int, blob: bytes) -> dict[str, Any]:
    """A pending secret ballot, opened with the session's seal (a refusal, not a crash,
    when the server's key cannot open it)."""
    try:
        return seal_of(db).open(motion_id, blob)
    except SealError:
        log.error("a sealed secret ballot of motion %s cannot be opened with this server's keys", motion_id)
        raise Conflict(MSG_SEALED, field="motion") from None


def pending_lookup(motion_id: int, voter_key: str) -> str:
    """What a pending (sealed) secret ballot stores of its voter's change code: another
    hash than :func:`replace_hash`, so the pending record and the anonymous ballot it
    becomes cannot be matched without the code."""
    return hashlib.sha256(f"courtyard-pending:{motion_id}:{voter_key}".encode()).hexdigest()


# ---------------------------------------------------------------------------
# rights and eligibility


def can_manage(db: Session, actor: Member | None, motion_or_session: Motion | ConsultationSession | None,
               community_id: int) -> bool:
    """Staff, a member holding the host role for the whole community, or the host of the
    motion's session."""
    if actor is None:
        return False
    if has_role(db, actor, STAFF_ROLES | {Role.HOST}, community_id=community_id):
        return True
    session = motion_or_session
    if isinstance(session, Motion):
        session = db.get(ConsultationSession, session.session_id) if session.session_id else None
    return bool(session is not None and session.host_id == actor.id and actor.community_id == community_id)


def require_manage(db: Session, actor: Member | None, motion: Motion) -> Member:
    if not can_manage(db, actor, motion, motion.community_id):
        raise Forbidden(MSG_MANAGE)
    assert actor is not None
    return actor


def eligible_ids(motion: Motion, db: Session) -> Any:
    """A select of the ids of the members who may vote on ``motion``."""
    base = select(Member.id).where(Member.community_id == motion.community_id, Member.active.is_(True))
    kind = motion.electorate
    if kind == Electorate.COMMUNITY.value:
        return base
    if kind == Electorate.PLACE.value:
        place = db.get(Place, motion.place_id) if motion.place_id else None
        if place is None:
            return base.where(False)
        subtree = select(Place.id).where(Place.community_id == motion.community_id, Place.path.like(place.path + "%"))
        bound = select(RoleAssignment.member_id).where(RoleAssignment.place_id.in_(subtree))
        return base.where(or_(Member.place_id.in_(subtree), Member.id.in_(bound)))
    if kind == Electorate.REPRESENTATIVES.value:
        reps = select(Representative.member_id).where(Representative.community_id == motion.community_id)
        return base.where(Member.id.in_(reps))
    if kind == Electorate.LIST.value:
        listed = select(MotionVoter.member_id).where(MotionVoter.motion_id == motion.id)
        return base.where(Member.id.in_(listed))
    raise Invalid(N_("Unknown electorate."), field="electorate")


def is_eligible(db: Session, motion: Motion, member: Member | None) -> bool:
    if member is None or not member.active or member.community_id != motion.community_id:
        return False
    if motion.electorate == Electorate.COMMUNITY.value:  # every active member: nothing more to ask
        return True
    return bool(db.scalar(select(eligible_ids(motion, db).where(Member.id == member.id).exists())))


def eligible_count(db: Session, motion: Motion) -> int:
    return db.scalar(select(func.count()).select_from(eligible_ids(motion, db).subquery())) or 0


def set_representatives(db: Session, *, actor: Member | None, community: Community,
                        member_ids: Iterable[int]) -> list[Representative]:
    """Replace the community's list of elected resident representatives (staff only;
    ``actor=None`` is the system, e.g. the demo)."""
    if actor is not None and not has_role(db, actor, STAFF_ROLES, community_id=community.id):
        raise Forbidden(N_("Only staff can change the list of representatives."))
    ids = list(dict.fromkeys(member_ids))
    for member_id in ids:
        get_in_community(db, Member, member_id, community.id, field="member_ids")
    # the community's row first: two staff replacing the list at once take turns (on
    # PostgreSQL the second's DELETE would not see the first's new rows, and both lists
    # would be kept, or collide on the unique index)
    lock_row(db, Community, community.id)
    db.execute(delete(Representative).where(Representative.community_id == community.id))
    rows = [Representative(community_id=community.id, member_id=i) for i in ids]
    db.add_all(rows)
    db.flush()
    return rows


def representatives(db: Session, community_id: int) -> list[Member]:
    return list(db.scalars(select(Member).join(Representative, Representative.member_id == Member.id)
                           .where(Representative.community_id == community_id).order_by(Member.id)))


# ---------------------------------------------------------------------------
# motions


@dataclass
class MotionChange:
    """What opening or closing a motion did: the motion, its stored result (on close) and
    the event appended to its session's live log (``None`` without a session)."""

    motion: Motion
    result: MotionResult | None = None
    live_event: Any = None


def _check_params(method: Any, options: list[str], params: Mapping[str, Any] | None, quorum: int) -> dict[str, Any]:
    params = dict(params or {})
    spec = dict(getattr(method, "params", {}) or {})
    unknown = sorted(set(params) - set(spec))
    if unknown:
        raise Invalid(N_("Unknown parameter for this tally method: %(names)s."), field="params",
                      names=", ".join(unknown))
    if "quorum" in spec:
        params["quorum"] = quorum
    try:  # the method itself is the judge of its parameters
        method.tally(options, [], None, params)
    except ValueError as exc:
        raise Invalid(N_("The tally method refused these parameters: %(reason)s"), field="params",
                      reason=str(exc)) from exc
    return params


def _check_options(method: Any, options: Sequence[str] | None) -> list[str]:
    if method.ballot_kind == "yesno":
        return list(YESNO_OPTIONS)
    cleaned = [str(o).strip() for o in (options or [])]
    if len(cleaned) < 2:
        raise Invalid(N_("Give at least two options."), field="options")
    if len(cleaned) > MAX_OPTIONS:
        raise Invalid(N_("Give at most %(max)s options."), field="options", max=MAX_OPTIONS)
    if any(not o or len(o) > MAX_OPTION_LENGTH for o in cleaned):
        raise Invalid(N_("Each option needs a name of at most %(max)s characters."), field="options",
                      max=MAX_OPTION_LENGTH)
    if len(set(cleaned)) != len(cleaned):
        raise Invalid(N_("Two options have the same name."), field="options")
    return cleaned


def create_motion(db: Session, *, actor: Member | None, community: Community, method: Any, title: str,
                  options: Sequence[str] | None = None, description: str = "", params: Mapping[str, Any] | None = None,
                  quorum: int = 0, electorate: str = Electorate.COMMUNITY.value, place_id: int | None = None,
                  voter_ids: Iterable[int] = (), secret: bool = False, results_visibility: str = "after_close",
                  opens_at: datetime | None = None, closes_at: datetime | None = None,
                  session_id: int | None = None, agenda_item_id: int | None = None,
                  category_key: str | None = None, open_now: bool = False, now: datetime | None = None) -> Motion:
    """Draft a motion (or put it to the vote at once with ``open_now``). ``actor=None``
    is the system (the demo)."""
    now = now or utcnow()
    session = None
    if session_id is not None:
        session = get_in_community(db, ConsultationSession, session_id, community.id, field="session_id")
    if actor is not None and not can_manage(db, actor, session, community.id):
        raise Forbidden(MSG_MANAGE)
    if agenda_item_id is not None:
        if session is None or agenda_item_id not in {i.id for i in session.agenda}:
            raise NotFound(N_("No such agenda item in this session."), field="agenda_item_id")
    if method is None:
        raise Invalid(N_("This tally method is not available in this community."), field="method")
    if electorate not in ELECTORATES:
        raise Invalid(N_("Unknown electorate."), field="electorate")
    if results_visibility not in ("live", "after_close"):
        raise Invalid(N_("Results are shown live or after the vote closes."), field="results_visibility")
    if secret and results_visibility == "live":
        raise Invalid(MSG_SECRET_LIVE, field="results_visibility")
    if quorum < 0:
        raise Invalid(N_("The quorum cannot be negative."), field="quorum")
    if electorate == Electorate.PLACE.value:
        if place_id is None:
            raise Invalid(N_("Choose the place whose residents vote."), field="place_id")
        get_in_community(db, Place, place_id, community.id, field="place_id")
    else:
        place_id = None
    voter_ids = list(dict.fromkeys(voter_ids))
    if electorate == Electorate.LIST.value:
        if not voter_ids:
            raise Invalid(N_("List at least one voter."), field="voter_ids")
        for member_id in voter_ids:
            get_in_community(db, Member, member_id, community.id, field="voter_ids")
    if opens_at is not None and closes_at is not None and closes_at <= opens_at:
        raise Invalid(N_("The vote must close after it opens."), field="closes_at")
    if closes_at is not None and closes_at <= now:
        raise Invalid(N_("The closing time has already passed."), field="closes_at")
    clean_options = _check_options(method, options)
    clean_params = _check_params(method, clean_options, params, quorum)
    motion = Motion(community_id=community.id, session_id=session_id, agenda_item_id=agenda_item_id,
                    title=title.strip(), description=description, options=clean_options, method_key=method.key,
                    params=clean_params, quorum=quorum, electorate=electorate, place_id=place_id, secret=secret,
                    results_visibility=results_visibility, opens_at=opens_at, closes_at=closes_at,
                    status=MotionStatus.DRAFT.value, category_key=category_key,
                    created_by_id=actor.id if actor else None, created_at=now, log_length=0, log_head=GENESIS)
    db.add(motion)
    db.flush()
    if electorate == Electorate.LIST.value:
        db.add_all([MotionVoter(motion_id=motion.id, member_id=i) for i in voter_ids])
        db.flush()
    if open_now:
        open_motion(db, actor=actor, motion=motion, now=now)
    return motion


def get_motion(db: Session, motion_id: int, *, community_id: int | None = None) -> Motion:
    motion = db.get(Motion, motion_id)
    if motion is None or (community_id is not None and motion.community_id != community_id):
        raise NotFound(N_("No such motion."), field="motion")
    return motion


def list_motions(db: Session, *, community_id: int, session_id: int | None = None,
                 include_drafts: bool = False, limit: int | None = None) -> list[Motion]:
    q = select(Motion).where(Motion.community_id == community_id)
    if session_id is not None:
        q = q.where(Motion.session_id == session_id)
    if not include_drafts:
        q = q.where(Motion.status != MotionStatus.DRAFT.value)
    return list(db.scalars(q.order_by(Motion.id.desc()).limit(limit)))


def _live_event(db: Session, motion: Motion, kind: str, payload: dict[str, Any], now: datetime) -> Any:
    """Append a motion event to its session's live log (replayed to reconnecting phones)."""
    if motion.session_id is None:
        return None
    from core.services import live as live_service

    return live_service.append_event(db, session_id=motion.session_id, kind=kind, now=now,
                                     payload={"motion_id": motion.id, "title": motion.title, **payload})


def open_motion(db: Session, *, actor: Member | None, motion: Motion, now: datetime | None = None) -> MotionChange:
    """Put a draft motion to the vote."""
    now = now or utcnow()
    if actor is not None:
        require_manage(db, actor, motion)
    if motion.status != MotionStatus.DRAFT.value:
        raise Conflict(N_("Only a draft motion can be opened."), field="status")
    if motion.closes_at is not None and motion.closes_at <= now:
        raise Invalid(N_("The closing time has already passed."), field="closes_at")
    # a conditional UPDATE, as close_motion: of two hosts opening at once one opens it,
    # the other is told it is not a draft any more (one motion_opened event, one opened_at)
    opened = db.execute(update(Motion).where(Motion.id == motion.id, Motion.status == MotionStatus.DRAFT.value)
                        .values(status=MotionStatus.OPEN.value)
                        .execution_options(synchronize_session=False)).rowcount
    if opened != 1:
        raise Conflict(N_("Only a draft motion can be opened."), field="status")
    db.refresh(motion)  # (the row is ours until commit: the UPDATE locked it)
    motion.opened_at = now
    if motion.opens_at is None:
        motion.opens_at = now
    db.flush()
    event = _live_event(db, motion, "motion_opened", {"status": "open"}, now)
    return MotionChange(motion, None, event)


def close_motion(db: Session, *, actor: Member | None, motion: Motion, method: Any,
                 now: datetime | None = None) -> MotionChange:
    """Close the vote (``actor=None``: the system, at ``closes_at``), tally it once and
    store the result with the log head it was counted from. After this nothing changes."""
    now = now or utcnow()
    if actor is not None:
        require_manage(db, actor, motion)
    if method is None:
        raise Invalid(N_("This tally method is not available in this community."), field="method")
    closed = db.execute(update(Motion).where(Motion.id == motion.id, Motion.status == MotionStatus.OPEN.value)
                        .values(status=MotionStatus.CLOSED.value, closed_at=now)
                        .execution_options(synchronize_session=False)).rowcount
    if closed != 1:
        raise Conflict(N_("Only an open motion can be closed."), field="status")
    if motion.secret:  # every acknowledged secret ballot is written out before the tally
        write_pending(db, motion.id)
    db.refresh(motion)
    result = compute_result(db, motion, method)
    row = MotionResult(motion_id=motion.id, result=result, ballots=result["turnout"]["ballots"],
                       eligible=result["turnout"]["eligible"], quorum_met=result["turnout"]["quorum_met"],
                       log_length=motion.log_length, log_head=motion.log_head, computed_at=now)
    db.add(row)
    db.flush()
    event = _live_event(db, motion, "motion_closed", {"status": "closed", "result": public_result(result)}, now)
    events.queue(db, "courtyard_motion_closed", community_id=motion.community_id, motion=motion, result=result)
    return MotionChange(motion, row, event)


def close_due(db: Session, *, now: datetime | None = None, method_for: Callable[[str], Any],
              community_id: int | None = None) -> list[MotionChange]:
    """Close every open motion whose window has ended (the system closes them)."""
    now = now or utcnow()
    q = select(Motion).where(Motion.status == MotionStatus.OPEN.value, Motion.closes_at.is_not(None),
                             Motion.closes_at <= now)
    if community_id is not None:
        q = q.where(Motion.community_id == community_id)
    out = []
    for motion in db.scalars(q).all():
        try:
            out.append(close_motion(db, actor=None, motion=motion, method=method_for(motion.method_key), now=now))
        except (Conflict, Invalid):  # closed by someone else meanwhile, or its method is gone
            log.warning("motion %s could not be closed automatically", motion.id)
    return out


def phase(motion: Motion, now: datetime | None = None) -> str:
    """``draft``, ``scheduled`` (open, window not started), ``open``, ``ended`` (window
    over, not yet closed by the system) or ``closed``."""
    now = now or utcnow()
    if motion.status == MotionStatus.DRAFT.value:
        return "draft"
    if motion.status == MotionStatus.CLOSED.value:
        return "closed"
    if motion.opens_at is not None and motion.opens_at > now:
        return "scheduled"
    if motion.closes_at is not None and motion.closes_at <= now:
        return "ended"
    return "open"


# ---------------------------------------------------------------------------
# casting


def check_present(db: Session, motion: Motion, voter: Member | Any) -> None:
    """An assisted vote (a host recording the vote of a resident without a phone) needs
    the resident present: checked in at the motion's session — a participant row of that
    session, made when they joined its live room or when the host checked them in
    (:func:`core.services.live.check_in`). A motion without a session has no room to be
    present in, so nobody can vote for a resident there: they vote on their own phone."""
    if motion.session_id is None:
        raise Conflict(MSG_ASSIST_NO_SESSION, field="member_id")
    from core.services import live as live_service

    if not live_service.is_checked_in(db, session_id=motion.session_id, member_id=voter.id):
        raise Conflict(MSG_ASSIST_ABSENT, field="member_id")


@dataclass
class CastOutcome:
    """What a vote did. ``voter_key`` is the secret-ballot change code the voter's phone
    keeps (``None`` for open ballots); ``receipt`` is ``None`` only for a recognised retry
    of a secret vote whose change code was not sent again."""

    motion: Motion
    receipt: str | None
    nonce: str | None
    first: bool = False
    changed: bool = False
    duplicate: bool = False
    voter_key: str | None = None
    assisted_by_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: enough sealed secret ballots of the motion wait: after the commit, write them out
    #: (:func:`write_pending`, in a transaction of its own)
    mix_due: bool = False


def _check_window(motion: Motion, now: datetime) -> None:
    p = phase(motion, now)
    if p in ("closed", "ended"):
        raise Conflict(MSG_CLOSED, field="motion")
    if p in ("draft", "scheduled"):
        raise Conflict(MSG_NOT_OPEN, field="motion")


@dataclass(frozen=True)
class _Head:
    """A motion whose row lock this transaction holds: its status, window and log head
    as read under the lock, the head as this transaction has extended it."""

    length: int
    hash: str
    opens_at: datetime | None
    closes_at: datetime | None
    status: str = MotionStatus.OPEN.value
    dirty: bool = False


#: the order deferred writes are sent in: a row deleted or updated existed before the
#: batch, and a key a deleted row held may be taken by an insert of the same batch
_DELETE, _UPDATE, _INSERT = 0, 1, 2


class CastBatch:
    """Ballots cast in one transaction: a single vote (:func:`cast_ballot`) or the live
    writer's group commit (``plugins.voting.live.VoteWriter``).

    The first vote of a motion takes the motion's row lock (``UPDATE motions …
    RETURNING``, which also reads the log head and re-checks, under the lock, that the
    vote is open); later votes of that motion in the same transaction already hold the
    lock and extend the hash chain in memory; :meth:`finish` writes each head once.
    A refused vote (a :class:`~core.errors.DomainError`) is refused before it writes
    anything, so the batch goes on; ``cast(..., savepoint=True)`` also runs a vote in its
    own SAVEPOINT, for callers that must survive other failures of one vote (the live
    writer instead rolls back and casts the batch again without it: savepoints cost more
    than the rare replay). The caller commits (after :meth:`finish`).

    Round trips: :meth:`prepare` reads, under the lock, what many votes of one motion
    need (their voters' ballots, or participations and keyed anonymous ballots, and their
    eligibility) in one query each; the writes are kept and sent by :meth:`finish`, one
    ``executemany`` per statement. A read of a row this batch has a write pending for sends
    the pending writes first, so every vote sees exactly what casting the votes one by
    one would have shown it. Without :meth:`prepare` (a single vote) each read is a query.
    """

    def __init__(self, db: Session, *, defer: bool = True, mix_min: int = MIX_MIN) -> None:
        self.db = db
        #: a secret motion with at least this many sealed ballots waiting is due to have
        #: them written out after the commit (:attr:`due`)
        self.mix_min = max(1, int(mix_min))
        self.sealed: set[int] = set()  # secret motions this batch added sealed ballots to
        #: secret motions whose pending ballots the caller writes out after committing
        self.due: list[int] = []
        #: keep writes until :meth:`flush` (``False``: send each at once, so a failing write
        #: fails the vote that made it)
        self.defer = defer
        db.flush()  # whatever the session holds goes first, as an ORM statement would autoflush it
        #: the statements below run on the session's connection (SQLAlchemy Core: no unit
        #: of work per vote), in the session's transaction
        self.conn = db.connection()
        self.heads: dict[int, _Head] = {}
        self.known: dict[tuple[Any, ...], Any] = {}  # prefetched rows (None: known absent)
        self.pending: list[tuple[int, Any, dict[str, Any]]] = []  # deferred writes, in casting order
        self.written: set[tuple[Any, ...]] = set()  # read keys whose rows a pending write changes

    # -- the transaction

    def prepare(self, motion: Motion, voter_ids: Iterable[int], voter_keys: Iterable[str] = ()) -> None:
        """Take ``motion``'s lock and read what votes of these voters (and, on a secret
        ballot, these voter keys) will ask, one query per kind. Optional: it only saves
        round trips. A motion that is not open is left for each vote to refuse."""
        head = self._head(motion)
        if head.status != MotionStatus.OPEN.value:
            return
        ids = sorted(set(voter_ids))
        if not ids:
            return
        m = motion.id
        if motion.electorate != Electorate.COMMUNITY.value:
            eligible = set(self.db.scalars(eligible_ids(motion, self.db).where(Member.id.in_(ids))))
            self.known.update({("eligible", m, i): i in eligible for i in ids})
        if motion.secret:
            rows = self.conn.execute(_PARTICIPATIONS_OF, {"motion_id": m, "member_ids": ids}).all()
            found = {r[0]: tuple(r[1:]) for r in rows}
            self.known.update({("part", m, i): found.get(i) for i in ids})
            hashes = sorted({replace_hash(m, k) for k in voter_keys if k})
            if hashes:
                rows = self.conn.execute(_ANONYMOUS_BY_KEYS, {"motion_id": m, "hashes": hashes}).all()
                found = {r[0]: tuple(r[1:]) for r in rows}
                self.known.update({("anon", m, h): found.get(h) for h in hashes})
            lookups = sorted({pending_lookup(m, k) for k in voter_keys if k})
            if lookups:
                rows = self.conn.execute(_PENDING_BY_LOOKUPS, {"motion_id": m, "lookups": lookups}).all()
                found = {r[0]: tuple(r[1:]) for r in rows}
                self.known.update({("pend", m, h): found.get(h) for h in lookups})
        else:
            rows = self.conn.execute(_BALLOTS_OF, {"motion_id": m, "member_ids": ids}).all()
            found = {r[0]: tuple(r[1:]) for r in rows}
            self.known.update({("ballot", m, i): found.get(i) for i in ids})

    def cast(self, *, actor: Any, motion: Motion, choice: Any, voter: Any = None, client_id: str | None = None,
             voter_key: str | None = None, now: datetime | None = None, savepoint: bool = False) -> CastOutcome:
        """Cast or change one ballot (see :func:`cast_ballot`)."""
        if not savepoint:
            return self._cast(actor, motion, choice, voter, client_id, voter_key, now or utcnow())
        self.flush()
        heads = dict(self.heads)
        sp = self.conn.begin_nested()
        try:
            outcome = self._cast(actor, motion, choice, voter, client_id, voter_key, now or utcnow())
            self.flush()
            sp.commit()
            return outcome
        except BaseException:
            if sp.is_active:
                sp.rollback()
            # a rolled-back savepoint also gave back the row lock it took (PostgreSQL) and
            # the log entries it appended: forget them, and whatever was read
            self.heads = heads
            self.pending, self.known = [], {}
            self.written.clear()
            raise

    def flush(self) -> None:
        """Send the pending writes: deletes, then updates, then inserts, one
        ``executemany`` per statement, each in the order the votes were cast."""
        if not self.pending:
            return
        groups: dict[Any, list[dict[str, Any]]] = {}
        order: list[tuple[int, int, Any]] = []
        for rank, stmt, params in self.pending:
            batch = groups.get(stmt)
            if batch is None:
                batch = groups[stmt] = []
                order.append((rank, len(order), stmt))
            batch.append(params)
        self.pending = []
        for key in self.written:
            self.known.pop(key, None)
        self.written.clear()
        for _rank, _seq, stmt in sorted(order, key=lambda o: (o[0], o[1])):
            self.conn.execute(stmt, groups[stmt])

    def finish(self) -> None:
        """Send the pending writes, write the head of every motion whose log this
        transaction extended (once per motion), and flush. Call before committing. A secret
        motion that now has at least ``mix_min`` sealed ballots waiting is listed in
        :attr:`due` (one count per motion and batch): the caller writes them out after the
        commit, in a transaction of their own (:func:`write_pending`)."""
        self.flush()
        for motion_id in sorted(self.sealed):
            waiting = self.conn.execute(_PENDING_COUNT, {"motion_id": motion_id}).scalar_one()
            if waiting >= self.mix_min and motion_id not in self.due:
                self.due.append(motion_id)
        self.sealed.clear()
        for motion_id, head in list(self.heads.items()):
            if head.dirty:
                self.conn.execute(_HEAD_UPDATE, {"motion_id": motion_id, "length": head.length, "head": head.hash})
                self.heads[motion_id] = replace(head, dirty=False)
                motion = self.db.identity_map.get(self.db.identity_key(Motion, motion_id))
                if motion is not None:
                    set_committed_value(motion, "log_length", head.length)
                    set_committed_value(motion, "log_head", head.hash)
        self.db.flush()

    # -- reads and writes of one vote

    def _read(self, stmt: Any, key: tuple[Any, ...], params: dict[str, Any]) -> Any:
        if key in self.written:  # this batch changes that row: send the changes, then read it
            self.flush()
        elif key in self.known:
            return self.known[key]
        return self.conn.execute(stmt, params).first()

    def _write(self, rank: int, stmt: Any, params: dict[str, Any], *keys: tuple[Any, ...]) -> None:
        self.pending.append((rank, stmt, params))
        self.written.update(keys)
        if not self.defer:
            self.flush()

    def _eligible(self, motion: Motion, voter: Any) -> bool:
        known = self.known.get(("eligible", motion.id, voter.id))
        if known is not None and voter.active and voter.community_id == motion.community_id:
            return bool(known)
        return is_eligible(self.db, motion, voter)

    # -- one vote

    def _head(self, motion: Motion) -> _Head:
        """The motion's row lock, taken once per transaction, with what it read."""
        head = self.heads.get(motion.id)
        if head is None:
            status, opens_at, closes_at, length, digest = self.conn.execute(
                _MOTION_LOCK, {"motion_id": motion.id}).one()
            head = self.heads[motion.id] = _Head(length, digest, opens_at, closes_at, status)
            if motion.status != status:
                set_committed_value(motion, "status", status)
        return head

    def _lock(self, motion: Motion, now: datetime) -> None:
        """Hold the motion's row lock and check, under it, that the vote is open (and, for
        every vote, its window at ``now``)."""
        head = self._head(motion)
        if head.status == MotionStatus.CLOSED.value:
            raise Conflict(MSG_CLOSED, field="motion")
        if head.status != MotionStatus.OPEN.value:
            raise Conflict(MSG_NOT_OPEN, field="motion")
        if head.opens_at is not None and head.opens_at > now:
            raise Conflict(MSG_NOT_OPEN, field="motion")
        if head.closes_at is not None and head.closes_at <= now:
            raise Conflict(MSG_CLOSED, field="motion")

    def _append_log(self, motion: Motion, record: dict[str, Any]) -> None:
        head = self.heads[motion.id]
        digest = entry_hash(head.hash, record)
        self._write(_INSERT, _LOG_INSERT, {"motion_id": motion.id, "position": head.length + 1, "record": record,
                                           "prev_hash": head.hash, "entry_hash": digest})
        self.heads[motion.id] = replace(head, length=head.length + 1, hash=digest, dirty=True)

    def _cast(self, actor: Any, motion: Motion, choice: Any, voter: Any, client_id: str | None,
              voter_key: str | None, now: datetime) -> CastOutcome:
        voter = voter or actor
        assisted = voter.id != actor.id
        if assisted and not can_manage(self.db, actor, motion, motion.community_id):
            raise Forbidden(MSG_ASSIST)
        if not (actor.active and actor.community_id == motion.community_id):
            raise Forbidden(N_("Only members of this community can do this."))
        if motion.status == MotionStatus.CLOSED.value:
            raise Conflict(MSG_CLOSED, field="motion")
        _check_window(motion, now)
        if not self._eligible(motion, voter):
            raise Forbidden(MSG_VOTER_NOT_ELIGIBLE if assisted else MSG_NOT_ELIGIBLE, field="motion")
        if assisted:
            check_present(self.db, motion, voter)
        self._lock(motion, now)
        assisted_by = actor.id if assisted else None
        if motion.secret:
            return self._cast_secret(motion, voter, choice, assisted_by, client_id, voter_key)
        return self._cast_open(motion, voter, choice, assisted_by, client_id, now)

    def _cast_open(self, motion: Motion, voter: Any, choice: Any, assisted_by: int | None, client_id: str | None,
                   now: datetime) -> CastOutcome:
        key = ("ballot", motion.id, voter.id)
        existing = self._read(_BALLOT_OF, key, {"motion_id": motion.id, "member_id": voter.id})
        if existing is not None and assisted_by is not None and existing[5] is None:
            raise Conflict(MSG_ASSIST_OWN_VOTE, field="member_id")  # the resident's own vote stands
        if existing is not None:
            ballot_id, old_choice, old_nonce, old_receipt, old_client, old_assisted = existing
            if client_id is not None and old_client == client_id:
                return CastOutcome(motion, old_receipt, old_nonce, duplicate=True, assisted_by_id=old_assisted)
            if old_choice == choice:
                if client_id and client_id != old_client:
                    self._write(_UPDATE, _BALLOT_CID, {"ballot_id": ballot_id, "v_client_id": client_id}, key)
                return CastOutcome(motion, old_receipt, old_nonce, assisted_by_id=old_assisted)
        nonce = secrets.token_hex(16)
        receipt = receipt_for(motion.id, choice, nonce)
        record: dict[str, Any] = {"op": "change" if existing else "cast", "member": voter.id,
                                  "assisted_by": assisted_by, "choice": choice, "nonce": nonce, "receipt": receipt}
        if existing is not None:
            record["replaces"] = existing[3]
            self._write(_UPDATE, _BALLOT_CHANGE, {"ballot_id": existing[0], "v_choice": choice, "v_nonce": nonce,
                                                  "v_receipt": receipt, "v_assisted_by_id": assisted_by,
                                                  "v_client_id": client_id, "v_updated_at": now}, key)
        else:
            self._write(_INSERT, _BALLOT_INSERT, {"motion_id": motion.id, "member_id": voter.id, "choice": choice,
                                                  "nonce": nonce, "receipt": receipt, "assisted_by_id": assisted_by,
                                                  "client_id": client_id, "cast_at": now, "updated_at": now}, key)
        self._append_log(motion, record)
        return CastOutcome(motion, receipt, nonce, first=existing is None, changed=existing is not None,
                           assisted_by_id=assisted_by)

    def _cast_secret(self, motion: Motion, voter: Any, choice: Any, assisted_by: int | None,
                     client_id: str | None, voter_key: str | None) -> CastOutcome:
        """A secret vote writes the participation (who) and a *sealed* pending ballot
        (what, unreadable without the server's key) — never the anonymous ballot or its log
        entry: those are written later, shuffled with at least ``mix_min`` others, in a
        transaction of their own (:func:`write_pending`). A change of a ballot still sealed
        becomes its next version (the log gets every version, in order, when it is written
        out); a change of a ballot already written out is sealed to replace it."""
        m = motion.id
        part_key = ("part", m, voter.id)
        part = self._read(_PARTICIPATION_OF, part_key, {"motion_id": m, "member_id": voter.id})
        if part is not None and assisted_by is not None and part[2] is None:
            raise Conflict(MSG_ASSIST_OWN_VOTE, field="member_id")  # the resident's own vote stands
        key_hash = replace_hash(m, voter_key) if voter_key else None
        lookup = pending_lookup(m, voter_key) if voter_key else None
        anon = pend = None
        if voter_key is not None:
            anon = self._read(_ANONYMOUS_BY_KEY, ("anon", m, key_hash), {"motion_id": m, "replace_hash": key_hash})
            found = self._read(_PENDING_BY_LOOKUP, ("pend", m, lookup), {"motion_id": m, "lookup": lookup})
            if found is not None:
                pend = (found[0], open_sealed(self.db, m, found[1]))
        seal = seal_of(self.db)
        if part is None:
            if anon is not None or pend is not None:
                raise Conflict(MSG_KEY_TAKEN, field="voter_key")
            voter_key = voter_key or secrets.token_urlsafe(24)
            lookup = pending_lookup(m, voter_key)
            nonce = secrets.token_hex(16)
            receipt = receipt_for(m, choice, nonce)
            # two records that share nothing readable: random ids, no timestamps, the ballot sealed
            self._write(_INSERT, _PARTICIPATION_INSERT, {"id": random_id(), "motion_id": m, "member_id": voter.id,
                                                         "assisted_by_id": assisted_by, "client_id": client_id},
                        part_key)
            sealed = seal.seal(m, {"replace_hash": replace_hash(m, voter_key), "replaces": None,
                                   "versions": [{"choice": choice, "nonce": nonce, "receipt": receipt}]})
            self._write(_INSERT, _PENDING_INSERT, {"id": random_id(), "motion_id": m, "lookup": lookup,
                                                   "sealed": sealed}, ("pend", m, lookup))
            self.sealed.add(m)
            # the change code of a vote recorded for a resident goes to nobody: the helper's
            # device must not be able to change the resident's secret vote afterwards
            return CastOutcome(motion, receipt, nonce, first=True, voter_key=None if assisted_by else voter_key,
                               assisted_by_id=assisted_by)
        part_id, part_client, part_assisted = part
        # the ballot as it stands: still sealed (its last version), or written out
        last = pend[1]["versions"][-1] if pend is not None else None
        current = ((last["choice"], last["receipt"], last["nonce"]) if last is not None
                   else (anon[1], anon[2], anon[3]) if anon is not None else None)
        if client_id is not None and part_client == client_id:
            return CastOutcome(motion, current[1] if current else None, current[2] if current else None,
                               duplicate=True, voter_key=None if assisted_by is not None else voter_key,
                               assisted_by_id=part_assisted)
        if assisted_by is not None:
            # nobody but the resident may change a secret vote, and the resident never saw
            # the change code of one recorded for them: such a vote is final
            raise Conflict(MSG_ASSIST_SECRET_FINAL, field="member_id")
        if voter_key is None:
            raise Conflict(MSG_SECRET_CHANGE, field="voter_key")
        if current is None:
            raise Conflict(MSG_BAD_KEY, field="voter_key")
        self._write(_UPDATE, _PARTICIPATION_UPDATE, {"part_id": part_id, "v_client_id": client_id or part_client,
                                                     "v_assisted_by_id": assisted_by}, part_key)
        if current[0] == choice:
            return CastOutcome(motion, current[1], current[2], voter_key=voter_key, assisted_by_id=assisted_by)
        nonce = secrets.token_hex(16)
        receipt = receipt_for(m, choice, nonce)
        # a change of a ballot still sealed is added to it as its next version (the log gets
        # both, in order); a change of a ballot written out waits, sealed, to replace it
        version = {"choice": choice, "nonce": nonce, "receipt": receipt}
        if pend is not None:
            sealed = seal.seal(m, {**pend[1], "versions": [*pend[1]["versions"], version]})
        else:
            sealed = seal.seal(m, {"replace_hash": key_hash, "replaces": anon[2], "versions": [version]})
        if pend is not None:
            self._write(_UPDATE, _PENDING_RESEAL, {"pend_id": pend[0], "v_sealed": sealed}, ("pend", m, lookup))
        else:
            self._write(_INSERT, _PENDING_INSERT, {"id": random_id(), "motion_id": m, "lookup": lookup,
                                                   "sealed": sealed}, ("pend", m, lookup))
        self.sealed.add(m)
        return CastOutcome(motion, receipt, nonce, changed=True, voter_key=voter_key, assisted_by_id=assisted_by)


# the statements of the hot path, on the tables (Core), built once: SQLAlchemy caches their
# compiled form
_MOTIONS = Motion.__table__
_BALLOTS = Ballot.__table__
_PARTICIPATIONS = Participation.__table__
_ANONYMOUS = AnonymousBallot.__table__
_PENDING = PendingBallot.__table__
_LOG = BallotLogEntry.__table__
_MOTION_LOCK = (update(_MOTIONS).where(_MOTIONS.c.id == bindparam("motion_id"))
                .values(log_length=_MOTIONS.c.log_length)
                .returning(_MOTIONS.c.status, _MOTIONS.c.opens_at, _MOTIONS.c.closes_at, _MOTIONS.c.log_length,
                           _MOTIONS.c.log_head))
_HEAD_UPDATE = (update(_MOTIONS).where(_MOTIONS.c.id == bindparam("motion_id"))
                .values(log_length=bindparam("length"), log_head=bindparam("head")))
_BALLOT_OF = (select(_BALLOTS.c.id, _BALLOTS.c.choice, _BALLOTS.c.nonce, _BALLOTS.c.receipt, _BALLOTS.c.client_id,
                     _BALLOTS.c.assisted_by_id)
              .where(_BALLOTS.c.motion_id == bindparam("motion_id"), _BALLOTS.c.member_id == bindparam("member_id")))
_BALLOT_CID = (update(_BALLOTS).where(_BALLOTS.c.id == bindparam("ballot_id"))
               .values(client_id=bindparam("v_client_id")))
_BALLOT_CHANGE = (update(_BALLOTS).where(_BALLOTS.c.id == bindparam("ballot_id"))
                  .values(choice=bindparam("v_choice"), nonce=bindparam("v_nonce"), receipt=bindparam("v_receipt"),
                          assisted_by_id=bindparam("v_assisted_by_id"), client_id=bindparam("v_client_id"),
                          updated_at=bindparam("v_updated_at")))
_PARTICIPATION_OF = (select(_PARTICIPATIONS.c.id, _PARTICIPATIONS.c.client_id, _PARTICIPATIONS.c.assisted_by_id)
                     .where(_PARTICIPATIONS.c.motion_id == bindparam("motion_id"),
                            _PARTICIPATIONS.c.member_id == bindparam("member_id")))
_PARTICIPATION_UPDATE = (update(_PARTICIPATIONS).where(_PARTICIPATIONS.c.id == bindparam("part_id"))
                         .values(client_id=bindparam("v_client_id"), assisted_by_id=bindparam("v_assisted_by_id")))
_ANONYMOUS_BY_KEY = (select(_ANONYMOUS.c.id, _ANONYMOUS.c.choice, _ANONYMOUS.c.receipt, _ANONYMOUS.c.nonce)
                     .where(_ANONYMOUS.c.motion_id == bindparam("motion_id"),
                            _ANONYMOUS.c.replace_hash == bindparam("replace_hash")))
_PENDING_BY_LOOKUP = (select(_PENDING.c.id, _PENDING.c.sealed)
                      .where(_PENDING.c.motion_id == bindparam("motion_id"), _PENDING.c.lookup == bindparam("lookup")))
_PENDING_RESEAL = (update(_PENDING).where(_PENDING.c.id == bindparam("pend_id"))
                   .values(sealed=bindparam("v_sealed")))
_PENDING_COUNT = select(func.count()).select_from(_PENDING).where(_PENDING.c.motion_id == bindparam("motion_id"))
_PENDING_OF_MOTION = select(_PENDING.c.id, _PENDING.c.sealed).where(_PENDING.c.motion_id == bindparam("motion_id"))
_PENDING_DELETE = delete(_PENDING).where(_PENDING.c.id == bindparam("pend_id"))
_PENDING_INSERT = _PENDING.insert()
_ANONYMOUS_REPLACED = delete(_ANONYMOUS).where(_ANONYMOUS.c.motion_id == bindparam("motion_id"),
                                               _ANONYMOUS.c.replace_hash == bindparam("v_replace_hash"))
_LOG_INSERT = _LOG.insert()
_BALLOT_INSERT = _BALLOTS.insert()
_PARTICIPATION_INSERT = _PARTICIPATIONS.insert()
_ANONYMOUS_INSERT = _ANONYMOUS.insert()
# many voters at once (CastBatch.prepare): the same columns, led by the key
_BALLOTS_OF = (select(_BALLOTS.c.member_id, *_BALLOT_OF.selected_columns)
               .where(_BALLOTS.c.motion_id == bindparam("motion_id"),
                      _BALLOTS.c.member_id.in_(bindparam("member_ids", expanding=True))))
_PARTICIPATIONS_OF = (select(_PARTICIPATIONS.c.member_id, *_PARTICIPATION_OF.selected_columns)
                      .where(_PARTICIPATIONS.c.motion_id == bindparam("motion_id"),
                             _PARTICIPATIONS.c.member_id.in_(bindparam("member_ids", expanding=True))))
_ANONYMOUS_BY_KEYS = (select(_ANONYMOUS.c.replace_hash, *_ANONYMOUS_BY_KEY.selected_columns)
                      .where(_ANONYMOUS.c.motion_id == bindparam("motion_id"),
                             _ANONYMOUS.c.replace_hash.in_(bindparam("hashes", expanding=True))))
_PENDING_BY_LOOKUPS = (select(_PENDING.c.lookup, *_PENDING_BY_LOOKUP.selected_columns)
                       .where(_PENDING.c.motion_id == bindparam("motion_id"),
                              _PENDING.c.lookup.in_(bindparam("lookups", expanding=True))))


def cast_ballot(db: Session, *, actor: Member, motion: Motion, choice: Any, voter: Member | None = None,
                client_id: str | None = None, voter_key: str | None = None,
                now: datetime | None = None, mix_min: int = MIX_MIN) -> CastOutcome:
    """Cast or change ``voter``'s ballot (``voter`` defaults to ``actor``; a host or staff
    member recording a vote for a present resident without a phone passes the resident as
    ``voter``: an assisted vote). ``choice`` is the bare ballot the method's schema loaded.

    A retry with the ``client_id`` of the emit that last changed the ballot changes nothing
    (``duplicate``); casting the same choice again changes nothing either. (Many votes in
    one transaction: :class:`CastBatch`.)

    A secret vote is stored sealed (see :class:`CastBatch`); when ``outcome.mix_due``,
    the caller, after committing, calls :func:`write_pending` and commits again."""
    batch = CastBatch(db, mix_min=mix_min)
    outcome = batch.cast(actor=actor, motion=motion, choice=choice, voter=voter, client_id=client_id,
                         voter_key=voter_key, now=now)
    batch.finish()
    if motion.id in batch.due:
        outcome.mix_due = True
    return outcome


def write_pending(db: Session, motion_id: int, *, minimum: int | None = None,
                  rng: random.Random | None = None) -> int:
    """Write out the sealed secret ballots waiting for ``motion_id`` (all of them; with
    ``minimum``, only if at least that many wait): open each, shuffle them, and insert
    the anonymous ballots and their log entries in that random order, delete the sealed
    records (and the ballots that changes replace), and move the log head — in the
    caller's transaction, which must hold no participation: call it after the votes'
    commit, and commit after it. Returns how many were written.

    Nothing links them to their voters but the batch itself: the ballots of one batch are
    those of the voters who voted or changed their vote since the batch before (see
    docs/voting.md, "Secret ballots in the database files")."""
    db.flush()
    conn = db.connection()
    _status, _opens, _closes, length, head = conn.execute(_MOTION_LOCK, {"motion_id": motion_id}).one()
    rows = conn.execute(_PENDING_OF_MOTION, {"motion_id": motion_id}).all()
    if not rows or (minimum is not None and len(rows) < minimum):
        return 0
    ballots = [open_sealed(db, motion_id, blob) for _, blob in rows]
    (rng or random.SystemRandom()).shuffle(ballots)
    inserts, entries, replaced = [], [], []
    for b in ballots:
        if b.get("replaces"):
            replaced.append({"motion_id": motion_id, "v_replace_hash": b["replace_hash"]})
        prev = b.get("replaces")
        for v in b["versions"]:  # a ballot changed while sealed: every version, in order
            record: dict[str, Any] = {"op": "change" if prev else "cast", "choice": v["choice"], "nonce": v["nonce"],
                                      "receipt": v["receipt"]}
            if prev:
                record["replaces"] = prev
            prev = v["receipt"]
            digest = entry_hash(head, record)
            length += 1
            entries.append({"motion_id": motion_id, "position": length, "record": record, "prev_hash": head,
                            "entry_hash": digest})
            head = digest
        last = b["versions"][-1]
        inserts.append({"id": random_id(), "motion_id": motion_id, "choice": last["choice"], "nonce": last["nonce"],
                        "receipt": last["receipt"], "replace_hash": b["replace_hash"]})
    conn.execute(_PENDING_DELETE, [{"pend_id": rid} for rid, _ in sorted(rows)])
    if replaced:
        conn.execute(_ANONYMOUS_REPLACED, replaced)
    conn.execute(_ANONYMOUS_INSERT, inserts)
    conn.execute(_LOG_INSERT, entries)
    conn.execute(_HEAD_UPDATE, {"motion_id": motion_id, "length": length, "head": head})
    motion = db.identity_map.get(db.identity_key(Motion, motion_id))
    if motion is not None:
        set_committed_value(motion, "log_length", length)
        set_committed_value(motion, "log_head", head)
    return len(ballots)


# ---------------------------------------------------------------------------
# what a member sees of their own vote


def my_vote(db: Session, *, motion: Motion, member: Member) -> dict[str, Any] | None:
    """The member's own vote: for an open ballot the choice, receipt and who assisted;
    for a secret ballot only that they took part (and who assisted) — the choice is
    found by the receipt the phone kept (:func:`find_receipt`)."""
    if motion.secret:
        part = db.scalar(select(Participation).where(Participation.motion_id == motion.id,
                                                     Participation.member_id == member.id))
        if part is None:
            return None
        return {"secret": True, "voted": True, "assisted_by": _name(db, part.assisted_by_id)}
    ballot = db.scalar(select(Ballot).where(Ballot.motion_id == motion.id, Ballot.member_id == member.id))
    if ballot is None:
        return None
    return {"secret": False, "voted": True, "choice": ballot.choice, "receipt": ballot.receipt,
            "assisted_by": _name(db, ballot.assisted_by_id), "updated_at": ballot.updated_at.isoformat()}


def _name(db: Session, member_id: int | None) -> str | None:
    if member_id is None:
        return None
    m = db.get(Member, member_id)
    return m.display_name if m else None


def find_receipt(db: Session, *, motion: Motion, receipt: str) -> dict[str, Any] | None:
    """The ballot behind a receipt, as it is counted now (``None``: not counted — never
    cast, replaced by a later vote, or for a secret ballot still open: perhaps sealed and
    not yet written out, see :func:`receipt_may_be_sealed`). A lookup reads one indexed
    row and never opens a sealed ballot: anyone may ask, as often as they like."""
    model = AnonymousBallot if motion.secret else Ballot
    receipt = receipt.strip().lower()
    row = db.scalar(select(model).where(model.motion_id == motion.id, model.receipt == receipt))
    if row is None:
        return None
    return {"receipt": row.receipt, "choice": row.choice, "nonce": row.nonce}


def receipt_may_be_sealed(motion: Motion) -> bool:
    """Whether a receipt not found may still belong to an acknowledged ballot waiting
    sealed (a secret ballot not yet closed): every sealed ballot is written out by the
    close, so after it "not found" means "not counted"."""
    return bool(motion.secret) and motion.status != "closed"


# ---------------------------------------------------------------------------
# counting


def current_choices(db: Session, motion: Motion) -> list[tuple[str, Any, str]]:
    """``(receipt, choice, nonce)`` of every ballot counted now."""
    model = AnonymousBallot if motion.secret else Ballot
    return [(r, c, n) for r, c, n in db.execute(select(model.receipt, model.choice, model.nonce)
                                                .where(model.motion_id == motion.id))]


def counted_choices(db: Session, motion: Motion) -> tuple[list[Any], list[int]]:
    """Every distinct ballot counted now and how many times it was cast, grouped by the
    database: a running tally of a thousand voters reads a dozen rows, not a thousand
    (a tally is recomputed up to ten times a second while a vote is open). Rows are
    grouped by their stored JSON text; :func:`aggregate` then merges any two texts of
    the same ballot."""
    model = AnonymousBallot if motion.secret else Ballot
    text = cast(model.choice, Text)
    rows = db.execute(select(text, func.count()).where(model.motion_id == motion.id).group_by(text)).all()
    return [None if t is None else json.loads(t) for t, _ in rows], [n for _, n in rows]


def aggregate(choices: Iterable[Any], weights: Iterable[int] | None = None) -> tuple[list[Any], list[int]]:
    """Identical ballots once, with how many times each was cast (sorted canonically, so
    the order of storage never matters); ``weights``: how many times each of ``choices``
    was cast (one each when not given)."""
    counts: dict[str, int] = {}
    ballots: dict[str, Any] = {}
    for choice, weight in zip(choices, weights) if weights is not None else ((c, 1) for c in choices):
        key = canonical(choice)
        counts[key] = counts.get(key, 0) + weight
        ballots.setdefault(key, choice)
    keys = sorted(counts)
    return [ballots[k] for k in keys], [counts[k] for k in keys]


def tally_choices(motion: Motion, method: Any, choices: Iterable[Any], eligible: int,
                  weights: Iterable[int] | None = None) -> dict[str, Any]:
    ballots, counts = aggregate(choices, weights)
    result = dict(method.tally(list(motion.options), ballots, counts, dict(motion.params or {})))
    cast = sum(counts)
    quorum_met = cast >= (motion.quorum or 0)
    result["turnout"] = {"ballots": cast, "eligible": eligible, "quorum": motion.quorum or 0,
                         "quorum_met": quorum_met,
                         "percent": round(100.0 * cast / eligible, 1) if eligible else None}
    result["decided"] = bool(quorum_met and result.get("winners"))
    return result


def compute_result(db: Session, motion: Motion, method: Any) -> dict[str, Any]:
    """Tally the ballots counted now, with turnout against the quorum."""
    choices, weights = counted_choices(db, motion)
    return tally_choices(motion, method, choices, eligible_count(db, motion), weights)


def stored_result(db: Session, motion: Motion) -> MotionResult | None:
    return db.get(MotionResult, motion.id)


def results_live(motion: Motion) -> bool:
    """Whether ``motion`` shows a running tally while it is open: its results are ``live``
    and its ballot is open (named). A secret ballot never does — pairing each vote with the
    next change of the tally tells how each voter voted — so a secret motion stored with
    ``live`` (before :func:`create_motion` refused it) is read as hidden until close."""
    return motion.results_visibility == "live" and not motion.secret


def results_visible(motion: Motion) -> bool:
    """Whether anyone — staff, admins and hosts included — may see per-option counts of
    ``motion`` now: after close, or while it is open when :func:`results_live`. Every
    reader of counts (API, pages, CSV, socket events, ``verify``) asks this first; the
    turnout alone (how many voted) is not a count of choices and is shown throughout."""
    if motion.status == MotionStatus.CLOSED.value:
        return True
    return motion.status == MotionStatus.OPEN.value and results_live(motion)


def visible_result(db: Session, motion: Motion, method: Any) -> dict[str, Any] | None:
    """The result as it may be seen now: the stored result after close, the running tally
    of an open live-results motion, else ``None`` (hidden until close, a draft, or no
    method to count with)."""
    if motion.status == MotionStatus.CLOSED.value:
        stored = stored_result(db, motion)
        return stored.result if stored is not None else None
    if not results_visible(motion) or method is None:
        return None
    return compute_result(db, motion, method)


def public_result(result: Mapping[str, Any]) -> dict[str, Any]:
    """A result as it is broadcast (it is JSON already; a copy, so callers may add to it)."""
    return json.loads(json.dumps(result))


def participants_count(db: Session, motion: Motion) -> int:
    model = Participation if motion.secret else Ballot
    return db.scalar(select(func.count()).select_from(model).where(model.motion_id == motion.id)) or 0


# ---------------------------------------------------------------------------
# publication and verification


def published(db: Session, motion: Motion, *, rng: random.Random | None = None) -> dict[str, Any]:
    """After close: every counted ballot with its receipt and nonce, in random order (so
    the order of storage or casting tells nothing), and the log head they were counted
    from. Anyone can recompute each receipt from its ballot and nonce."""
    if motion.status != MotionStatus.CLOSED.value:
        raise Conflict(N_("Receipts are published when the vote closes."), field="motion")
    rows = [{"receipt": r, "choice": c, "nonce": n} for r, c, n in current_choices(db, motion)]
    (rng or random.SystemRandom()).shuffle(rows)
    result = stored_result(db, motion)
    return {"motion": motion.id, "title": motion.title, "method": motion.method_key, "options": motion.options,
            "secret": motion.secret, "ballots": rows,
            "log_length": result.log_length if result else motion.log_length,
            "log_head": result.log_head if result else motion.log_head}


def log_entries(db: Session, motion_id: int) -> list[BallotLogEntry]:
    return list(db.scalars(select(BallotLogEntry).where(BallotLogEntry.motion_id == motion_id)
                           .order_by(BallotLogEntry.position, BallotLogEntry.id)))


def verify_motion(db: Session, motion_id: int, *, method: Any = None) -> dict[str, Any]:
    """Check a motion's record and recount it. Returns a report:
    ``{"ok", "problems": [...], "entries", "ballots", "log_head", "recount", "stored"}``.

    * the log is a gap-free chain: positions 1..n, each entry's ``prev_hash`` is the
      previous entry's hash, each hash matches its content, and the last hash and the
      length match the motion's head (and the head stored with the result) — so an edited,
      deleted, inserted or reordered entry is found;
    * every receipt matches its ballot and nonce;
    * replaying the log gives exactly the ballots stored now — so an edited, deleted or
      added ballot is found;
    * the recount from the log (with ``method``) equals the stored result.

    The recount is left out (``None``) while the motion's results may not be seen
    (:func:`results_visible`): checking the chain needs no count, and nobody — staff
    included — learns a hidden result before close.
    """
    motion = db.get(Motion, motion_id)
    if motion is None:
        raise NotFound(N_("No such motion."), field="motion")
    problems: list[str] = []
    entries = log_entries(db, motion.id)
    prev = GENESIS
    counted: dict[str, tuple[str, Any]] = {}  # key (member id or receipt) -> (receipt, choice)
    for expected, entry in enumerate(entries, start=1):
        if entry.position != expected:
            problems.append(f"log entry {expected} is missing (found position {entry.position} there): "
                            "an entry was deleted or moved")
        if entry.prev_hash != prev:
            problems.append(f"log entry {entry.position}: it does not follow the entry before it "
                            "(an entry was deleted, inserted or reordered)")
        record = entry.record or {}
        if entry_hash(entry.prev_hash, record) != entry.entry_hash:
            problems.append(f"log entry {entry.position}: its hash does not match its content (the entry was edited)")
        if receipt_for(motion.id, record.get("choice"), str(record.get("nonce"))) != record.get("receipt"):
            problems.append(f"log entry {entry.position}: the receipt does not match the ballot")
        prev = entry.entry_hash
        key = str(record.get("member")) if not motion.secret else None
        if record.get("op") == "change":
            old = record.get("replaces")
            if motion.secret:
                if old not in counted:
                    problems.append(f"log entry {entry.position}: it replaces a ballot that is not in the log")
                counted.pop(old, None)
            elif key not in counted or counted[key][0] != old:
                problems.append(f"log entry {entry.position}: it replaces a ballot that is not in the log")
        elif record.get("op") == "cast" and not motion.secret and key in counted:
            problems.append(f"log entry {entry.position}: a second first ballot of one member")
        counted[record.get("receipt") if motion.secret else key] = (record.get("receipt"), record.get("choice"))
    if len(entries) != motion.log_length or prev != motion.log_head:
        problems.append(f"the log has {len(entries)} entries ending in {prev[:12]}…, but the motion's head says "
                        f"{motion.log_length} ending in {motion.log_head[:12]}… (entries were deleted or added)")
    stored = stored_result(db, motion)
    if stored is not None and (stored.log_length != motion.log_length or stored.log_head != motion.log_head):
        problems.append("the log changed after the result was stored")
    now_rows = current_choices(db, motion)
    from_log = sorted(canonical([r, c]) for r, c in counted.values())
    in_table = sorted(canonical([r, c]) for r, c, _ in now_rows)
    if from_log != in_table:
        missing = len(set(from_log) - set(in_table))
        extra = len(set(in_table) - set(from_log))
        problems.append(f"the stored ballots differ from the log: {missing} ballot(s) of the log are missing or "
                        f"edited, {extra} stored ballot(s) are not in the log")
    for r, c, n in now_rows:
        if receipt_for(motion.id, c, n) != r:
            problems.append(f"stored ballot {r[:12]}…: the receipt does not match the ballot")
    recount = None
    if method is not None and results_visible(motion):  # hidden results: no recount before close
        recount = tally_choices(motion, method, [c for _, c in counted.values()],
                                stored.eligible if stored is not None else eligible_count(db, motion))
        if stored is not None:
            keep = ("winners", "counts", "rounds", "scores", "totals", "averages", "passed")
            a = {k: stored.result.get(k) for k in keep}
            b = {k: recount.get(k) for k in keep}
            if canonical(a) != canonical(b) or stored.ballots != recount["turnout"]["ballots"]:
                problems.append("the recount from the log differs from the stored result")
    return {"motion": motion.id, "ok": not problems, "problems": problems, "entries": len(entries),
            "ballots": len(now_rows), "log_head": prev, "recount": recount,
            "stored": stored.result if stored is not None else None}

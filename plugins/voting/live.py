"""Live voting: the ``/vote`` Socket.IO namespace, and the broadcasts of motion changes and
(coalesced) tallies.

The protocol follows the discussion plugin's ``/live`` (``docs/realtime.md``): every emit
that changes something carries a client id ``cid``; the acknowledgement is sent after the
commit; a retry with the same ``cid`` changes nothing and is acknowledged as a duplicate.
Motion openings and closings of a session are also appended to that session's ``/live``
event log (kinds ``motion_opened`` / ``motion_closed``), so a phone that reconnects to the
live page replays them in order.

Server → client events on ``/vote`` (room ``motion:<id>``):

* ``motion`` ``{motion_id, status, phase, result?}`` — opened or closed (``result`` on close);
* ``tally`` ``{motion_id, result}`` — the running tally, only for motions whose results
  are shown live, at most ``VOTING_TALLY_HZ`` (10) times a second per motion, the last
  change always sent. A motion whose results are hidden until close never sends one.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from flask import current_app, request
from flask_socketio import Namespace, join_room
from marshmallow import ValidationError
from sqlalchemy.exc import IntegrityError, OperationalError

from core.db import session_scope, utcnow
from core.errors import DomainError, Forbidden
from core.i18n import N_
from core.services import votes as svc
from web.auth import current_member
from web.db import get_db
from web.i18n import Msg, translate, translate_errors

log = logging.getLogger("courtyard.voting")

NAMESPACE = "/vote"


def motion_room(motion_id: int) -> str:
    return f"motion:{motion_id}"


def error_ack(status: int, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    """The error acknowledgement: the API's error body (web.errors) with ``ok: false``."""
    from web.errors import error_body

    return {"ok": False, **error_body(status, message, fields)}


# ---------------------------------------------------------------------------
# coalescing


class Coalescer:
    """Send at most one update per ``interval`` seconds per key; the last request in a
    burst is always sent (trailing edge). ``clock`` and ``schedule(delay, fn)`` are
    injectable, so tests move time instead of sleeping."""

    def __init__(self, send: Callable[[Any], None], *, interval: float = 0.1,
                 clock: Callable[[], float] = time.monotonic,
                 schedule: Callable[[float, Callable[[], None]], None] | None = None) -> None:
        self.send = send
        self.interval = interval
        self.clock = clock
        self.schedule = schedule or self._thread_schedule
        self.last: dict[Any, float] = {}
        self.pending: set[Any] = set()
        self.lock = threading.Lock()

    @staticmethod
    def _thread_schedule(delay: float, fn: Callable[[], None]) -> None:
        timer = threading.Timer(delay, fn)
        timer.daemon = True
        timer.start()

    def request(self, key: Any) -> None:
        with self.lock:
            if key in self.pending:
                return
            now = self.clock()
            wait = self.last.get(key, float("-inf")) + self.interval - now
            if wait <= 0:
                self.last[key] = now
                send_now = True
            else:
                self.pending.add(key)
                send_now = False
        if send_now:
            self._safe_send(key)
        else:
            self.schedule(wait, lambda: self._flush(key))

    def _flush(self, key: Any) -> None:
        with self.lock:
            self.pending.discard(key)
            self.last[key] = self.clock()
        self._safe_send(key)

    def _safe_send(self, key: Any) -> None:
        try:
            self.send(key)
        except Exception:  # a broadcast never takes the vote down
            log.exception("tally broadcast for %s failed", key)


class Broadcaster:
    """Per application: sends motion changes and coalesced tallies to the rooms."""

    def __init__(self, app: Any, socketio: Any) -> None:
        self.app = app
        self.socketio = socketio
        hz = float(app.config.get("VOTING_TALLY_HZ", 10))
        schedule = app.config.get("VOTING_SCHEDULE")
        self.coalescer = Coalescer(self._send_tally, interval=1.0 / hz,
                                   clock=app.config.get("VOTING_MONOTONIC") or time.monotonic,
                                   schedule=schedule or self._schedule)

    def _schedule(self, delay: float, fn: Callable[[], None]) -> None:
        def run() -> None:
            self.socketio.sleep(delay)
            fn()

        self.socketio.start_background_task(run)

    def tally_changed(self, motion_id: int) -> None:
        self.coalescer.request(motion_id)

    def _send_tally(self, motion_id: int) -> None:
        from web.extensions import Courtyard  # noqa: F401  (typing only)

        cy = self.app.extensions["courtyard"]
        with self.app.app_context(), session_scope(cy.sessionmaker) as db:
            motion = db.get(svc.Motion, motion_id)
            # hidden results are never broadcast before close (checked again here, at send time)
            if motion is None or motion.status != "open" or motion.results_visibility != "live":
                return
            method = method_for(db, motion)
            if method is None:
                return
            result = svc.compute_result(db, motion, method)
        self.socketio.emit("tally", {"motion_id": motion_id, "result": result}, to=motion_room(motion_id),
                           namespace=NAMESPACE)

    def motion_changed(self, change: svc.MotionChange) -> None:
        """After commit: tell the motion's watchers and its session's live room."""
        motion = change.motion
        payload: dict[str, Any] = {"motion_id": motion.id, "status": motion.status, "phase": svc.phase(motion)}
        if change.result is not None:
            payload["result"] = change.result.result
        self.socketio.emit("motion", payload, to=motion_room(motion.id), namespace=NAMESPACE)
        if change.live_event is not None:
            from core.services import live as live_service

            self.socketio.emit("event", live_service.event_dict(change.live_event),
                               to=f"session:{motion.session_id}", namespace="/live")


_BROADCASTER_LOCK = threading.Lock()


def broadcaster(app: Any = None) -> Broadcaster | None:
    """The application's broadcaster, made on first use."""
    app = app or current_app._get_current_object()
    b = app.extensions.get("plugin_voting_broadcaster")
    if b is None:
        socketio = getattr(app.extensions.get("courtyard"), "socketio", None)
        if socketio is None:
            return None
        with _BROADCASTER_LOCK:
            b = app.extensions.get("plugin_voting_broadcaster")
            if b is None:
                b = app.extensions["plugin_voting_broadcaster"] = Broadcaster(app, socketio)
    return b


def method_for(db: Any, motion: Any) -> Any:
    from core.services import plugins as plugins_service
    from web.extensions import current_courtyard

    cy = current_courtyard()
    enabled = plugins_service.enabled_checker(db, motion.community_id, cy.pm)
    return cy.catalog.tally_methods.get(motion.method_key, enabled)


def motion_state(db: Any, motion: Any, member: Any, now: Any) -> dict[str, Any]:
    """What a phone needs to show a motion: the ballot, the phase, my vote, and the tally
    when it may be seen."""
    method = method_for(db, motion)
    state: dict[str, Any] = {
        "motion_id": motion.id, "title": motion.title, "description": motion.description,
        "options": motion.options, "method": motion.method_key,
        "ballot_kind": method.ballot_kind if method else None, "params": motion.params,
        "secret": motion.secret, "results_visibility": motion.results_visibility, "status": motion.status,
        "phase": svc.phase(motion, now), "closes_at": motion.closes_at.isoformat() if motion.closes_at else None,
        "eligible": svc.is_eligible(db, motion, member), "mine": svc.my_vote(db, motion=motion, member=member)
        if member is not None else None,
    }
    if motion.status == "closed":
        stored = svc.stored_result(db, motion)
        state["result"] = stored.result if stored else None
    elif motion.results_visibility == "live" and method is not None:
        state["result"] = svc.compute_result(db, motion, method)
    return state


class VoteNamespace(Namespace):
    """``watch`` a motion, ``vote`` on it. Identity is the sign-in cookie of the handshake."""

    def clock(self) -> Any:
        return (current_app.config.get("VOTING_CLOCK") or utcnow)()

    def _guard(self, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        db = get_db()
        try:
            return fn()
        except ValidationError as exc:
            db.rollback()
            messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
            return error_ack(400, translate(N_("Please check the highlighted fields.")), translate_errors(messages))
        except DomainError as exc:
            db.rollback()
            message = translate(exc.message, exc.params)
            return error_ack(exc.status, message, {exc.field: [message]} if exc.field else None)
        except OperationalError:
            db.rollback()
            log.exception("database busy in /vote")
            return error_ack(503, translate(N_("The server is busy; your vote will be sent again.")))
        except Exception:
            db.rollback()
            log.exception("unexpected error in /vote")
            return error_ack(500, translate(N_("Something went wrong on our side. Nothing was saved; please try again.")))

    @staticmethod
    def _load(schema: Any, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise ValidationError({"_schema": [Msg(N_("Send a JSON object."))]})
        return schema().load(data)

    def on_connect(self, auth: Any = None) -> bool:
        return True

    def on_watch(self, data: Any = None) -> dict[str, Any]:
        from plugins.voting.schemas import WatchSchema

        def run() -> dict[str, Any]:
            payload = self._load(WatchSchema, data)
            db = get_db()
            member = current_member()
            motion = svc.get_motion(db, payload["motion_id"])
            if member is None or member.community_id != motion.community_id:
                raise Forbidden(N_("Only members of this community can do this."))
            if motion.status == "draft" and not svc.can_manage(db, member, motion, motion.community_id):
                raise Forbidden(N_("This vote has not opened yet."))
            join_room(motion_room(motion.id))
            return {"ok": True, "motion": motion_state(db, motion, member, self.clock())}

        return self._guard(run)

    def on_vote(self, data: Any = None) -> dict[str, Any]:
        from plugins.voting.schemas import LiveVoteSchema, load_ballot

        def run() -> dict[str, Any]:
            payload = self._load(LiveVoteSchema, data)
            db = get_db()
            member = current_member()
            if member is None:
                raise Forbidden(N_("Please sign in to vote."))
            motion = svc.get_motion(db, payload["motion_id"], community_id=member.community_id)
            return cast_and_ack(db, motion=motion, actor=member, payload=payload, now=self.clock())

        return self._guard(run)

    def trigger_event(self, event: str, *args: Any) -> Any:
        if event not in ("connect", "disconnect") and not hasattr(self, "on_" + (event or "")):
            return error_ack(400, "Unknown event.")
        return super().trigger_event(event, *args)


_SQLITE_WRITE_LOCK = threading.Lock()


def _sqlite_writer(db: Any) -> Any:
    """On SQLite, one writer per process at a time: threads queue on a lock instead of
    on SQLite's busy handler, whose sleeps with back-off made the slowest acknowledgements
    hundreds of milliseconds late. (PostgreSQL queues on the motion's row lock instead.)"""
    from contextlib import nullcontext

    bind = db.get_bind()
    return _SQLITE_WRITE_LOCK if bind.dialect.name == "sqlite" else nullcontext()


def cast_and_ack(db: Any, *, motion: Any, actor: Any, payload: dict[str, Any], now: Any) -> dict[str, Any]:
    """Load the ballot through the method's schema, cast it, commit, then acknowledge and
    ask for a tally broadcast. Shared by the socket handler and the JSON API."""
    from core.services.access import get_in_community
    from core.models import Member
    from plugins.voting.schemas import load_ballot

    method = method_for(db, motion)
    choice = load_ballot(method, motion, payload["ballot"])
    voter = None
    if payload.get("member_id") is not None:
        voter = get_in_community(db, Member, payload["member_id"], motion.community_id, field="member_id")
    try:
        with _sqlite_writer(db):
            outcome = svc.cast_ballot(db, actor=actor, motion=motion, choice=choice, voter=voter,
                                      client_id=payload.get("cid"), voter_key=payload.get("voter_key"), now=now)
            db.commit()
    except IntegrityError:  # the unique constraint caught a race the lock did not (defence in depth)
        db.rollback()
        outcome = svc.cast_ballot(db, actor=actor, motion=motion, choice=choice, voter=voter,
                                  client_id=payload.get("cid"), voter_key=payload.get("voter_key"), now=now)
        db.commit()
    ack: dict[str, Any] = {"ok": True, "motion_id": motion.id, "receipt": outcome.receipt, "nonce": outcome.nonce,
                           "first": outcome.first, "changed": outcome.changed, "duplicate": outcome.duplicate,
                           "assisted": outcome.assisted_by_id is not None}
    if outcome.voter_key is not None:
        ack["voter_key"] = outcome.voter_key
    b = broadcaster() if motion.results_visibility == "live" else None  # hidden results: nothing to send
    if b is not None and (outcome.first or outcome.changed):
        b.tally_changed(motion.id)
    return ack

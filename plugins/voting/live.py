"""Live voting: the ``/vote`` Socket.IO namespace, and the broadcasts of motion changes and
(coalesced) tallies.

The protocol follows the discussion plugin's ``/live`` (``docs/realtime.md``): every emit
that changes something carries a client id ``cid``; the acknowledgement is sent after the
commit; a retry with the same ``cid`` changes nothing and is acknowledged as a duplicate.
Motion openings and closings of a session are also appended to that session's ``/live``
event log (kinds ``motion_opened`` / ``motion_closed``), so a phone that reconnects to the
live page replays them in order.

Votes are written by one :class:`VoteWriter` per process (group commit: a batch of queued
votes in one transaction, each acknowledged after that commit); see ``docs/voting.md``,
*The write path*.

Server → client events on ``/vote`` (room ``motion:<id>``):

* ``motion`` ``{motion_id, status, phase, result?}`` — opened or closed (``result`` on close);
* ``tally`` ``{motion_id, result}`` — the running tally, only for open-ballot motions
  whose results are shown live (never a secret ballot's: :func:`core.services.votes.results_live`), at most ``VOTING_TALLY_HZ`` (10) times a second per motion, the last
  change always sent. A motion whose results are hidden until close never sends one.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import Any, Callable

from flask import current_app, request
from flask_socketio import Namespace, join_room
from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from core.db import session_scope, utcnow
from core.errors import DomainError, Forbidden, NotFound
from core.i18n import N_
from core.services import votes as svc
from web.auth import bearer_token, current_member
from web.db import get_db
from web.i18n import Msg, translate, translate_errors
from web.plugin_api import INT_MAX, find_text_fault

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
        from web.dbthread import database_thread

        result = database_thread(self.app).run(self._tally, motion_id)  # counted off the hub, like the votes
        if result is not None:
            self.socketio.emit("tally", {"motion_id": motion_id, "result": result}, to=motion_room(motion_id),
                               namespace=NAMESPACE)

    def _tally(self, motion_id: int) -> dict[str, Any] | None:
        from web.dbthread import database_thread

        with self.app.app_context(), session_scope(database_thread(self.app).sessionmaker) as db:
            motion = db.get(svc.Motion, motion_id)
            # hidden results are never broadcast before close (checked again here, at send time)
            if motion is None or motion.status != "open" or not svc.results_visible(motion):
                return None
            return svc.visible_result(db, motion, method_for(db, motion))

    def motion_changed(self, change: svc.MotionChange) -> None:
        """After commit: tell the motion's watchers and its session's live room."""
        motion = change.motion
        motion_cache(self.app).forget(motion.id)
        payload: dict[str, Any] = {"motion_id": motion.id, "status": motion.status, "phase": svc.phase(motion)}
        if change.result is not None:
            payload["result"] = change.result.result
        self.socketio.emit("motion", payload, to=motion_room(motion.id), namespace=NAMESPACE)
        if change.live_event is not None:
            from core.services import live as live_service

            self.socketio.emit("event", live_service.event_dict(change.live_event),
                               to=f"session:{motion.session_id}", namespace="/live")


_PER_APP_LOCK = threading.Lock()


def _per_app(app: Any, key: str, make: Callable[[Any, Any], Any], *, needs_socketio: bool = True) -> Any:
    """The application's one ``key`` object (``make(app, socketio)``), made on first use;
    ``None`` when it needs a Socket.IO server and the application has none (scripts, CLI)."""
    app = app or current_app._get_current_object()
    obj = app.extensions.get(key)
    if obj is None:
        socketio = getattr(app.extensions.get("courtyard"), "socketio", None)
        if socketio is None and needs_socketio:
            return None
        with _PER_APP_LOCK:
            obj = app.extensions.get(key)
            if obj is None:
                obj = app.extensions[key] = make(app, socketio)
    return obj


def broadcaster(app: Any = None) -> Broadcaster | None:
    """The application's broadcaster, made on first use."""
    return _per_app(app, "plugin_voting_broadcaster", Broadcaster)


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
        "secret": motion.secret, "results_visibility": "live" if svc.results_live(motion) else "after_close",
        "status": motion.status,
        "phase": svc.phase(motion, now), "closes_at": motion.closes_at.isoformat() if motion.closes_at else None,
        "eligible": svc.is_eligible(db, motion, member), "mine": svc.my_vote(db, motion=motion, member=member)
        if member is not None else None,
    }
    if svc.results_visible(motion):  # hidden results: no "result" key at all, whoever watches
        state["result"] = svc.visible_result(db, motion, method)
    return state


_CID = re.compile(r"[A-Za-z0-9_-]{8,64}")
_VOTE_KEYS = frozenset({"cid", "motion_id", "ballot", "voter_key", "member_id"})


def _plain_vote(data: Any) -> dict[str, Any] | None:
    """The common vote (``{cid, motion_id, ballot}``, maybe ``voter_key``) checked by hand
    — exactly what :class:`~plugins.voting.schemas.LiveVoteSchema` would load, at a fraction
    of its cost; ``None`` for anything else (the schema then loads it, or names the field
    at fault)."""
    if type(data) is not dict or "ballot" not in data or not data.keys() <= _VOTE_KEYS:
        return None
    cid, motion_id, key = data.get("cid"), data.get("motion_id"), data.get("voter_key")
    if type(cid) is not str or not _CID.fullmatch(cid) or type(motion_id) is not int or not 0 < motion_id <= INT_MAX:
        return None
    if key is not None and (type(key) is not str or len(key) < 16 or not _CID.fullmatch(key)):
        return None
    if data["ballot"] is None or data.get("member_id") is not None:
        return None
    if find_text_fault(data["ballot"]) is not None:  # the schema names the field at fault
        return None
    return {"ballot": data["ballot"], "cid": cid, "motion_id": motion_id, "voter_key": key, "member_id": None}


class _LazySession:
    """The event's database session, opened only if something is asked of it (a vote on
    a cached open motion asks nothing before the writer)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(get_db(), name)

    def commit(self) -> None:
        from flask import g

        if "db" in g:
            g.db.commit()

    def rollback(self) -> None:
        from flask import g

        if "db" in g:
            g.db.rollback()


class VoteNamespace(Namespace):
    """``watch`` a motion, ``vote`` on it. Identity is the sign-in cookie of the handshake."""

    def clock(self) -> Any:
        return (current_app.config.get("VOTING_CLOCK") or utcnow)()

    def _guard(self, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        db = _LazySession()
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
        except (OperationalError, PoolTimeout):  # the database is down, or every connection is in use
            try:
                db.rollback()
            except Exception:
                pass
            log.exception("database busy in /vote")
            return error_ack(503, translate(N_("The server is busy; your vote will be sent again.")))
        except Exception:
            db.rollback()
            log.exception("unexpected error in /vote")
            return error_ack(500, translate(N_("Something went wrong on our side. Nothing was saved; please try again.")))

    def __init__(self, namespace: str | None = None) -> None:
        super().__init__(namespace)
        self._people: dict[str, _Person] = {}
        self._schemas: dict[type, Any] = {}

    def _load(self, schema: Any, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise ValidationError({"_schema": [Msg(N_("Send a JSON object."))]})
        instance = self._schemas.get(schema)
        if instance is None:
            instance = self._schemas[schema] = schema()
        return instance.load(data)

    def on_connect(self, auth: Any = None) -> bool:
        """Anyone may connect; a signed-in member's identity is read now, from the
        handshake, so their first vote asks the database nothing before the writer."""
        try:
            self._identity()
        except Exception:  # read again at the first vote, which answers any error properly
            log.exception("could not read the identity of a /vote connection")
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

    def _identity(self) -> _Person | None:
        """Who is voting on this connection: resolved from the handshake (cookie or bearer
        token) on the first vote and kept until the connection ends. Whether the member is
        still active is checked again by the writer, inside the transaction."""
        sid = request.sid  # type: ignore[attr-defined]
        person = self._people.get(sid)
        if person is None:
            member = current_member()
            if member is None:
                return None
            # a sign-in by cookie carries the member's sign-in epoch: signing out everywhere
            # ends it (checked with every vote); a script's bearer token is not a sign-in
            epoch = None if bearer_token() else (member.sign_in_epoch or 0)
            person = self._people[sid] = _Person(member.id, member.active, member.community_id, epoch)
        return person

    def on_disconnect(self, *args: Any) -> None:
        self._people.pop(request.sid, None)  # type: ignore[attr-defined]

    def on_vote(self, data: Any = None) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            person = self._identity()
            if person is None:
                self._load_vote(data)  # a malformed vote is told so first, as before
                raise Forbidden(N_("Please sign in to vote."))
            return self._vote(person, data)

        return self._guard(run)

    def _load_vote(self, data: Any) -> dict[str, Any]:
        from plugins.voting.schemas import LiveVoteSchema

        fast = _plain_vote(data)
        return fast if fast is not None else self._load(LiveVoteSchema, data)

    def _vote(self, person: _Person, data: Any) -> dict[str, Any]:
        payload = self._load_vote(data)
        db = _LazySession()
        motion = motion_cache().get(db, payload["motion_id"])
        if motion is None or motion.community_id != person.community_id:
            raise NotFound(N_("No such motion."), field="motion")
        return cast_and_ack(db, motion=motion, actor=person, payload=payload, now=self.clock())

    def _vote_known(self, sid: str, person: _Person, data: Any) -> dict[str, Any] | None:
        """A vote on a connection whose voter is already known, handled in an application
        context only: a successful vote needs nothing of the request (Flask-SocketIO's
        request context per event was a large part of a vote's cost). An error is answered
        inside the request context, so it is translated as usual. ``None``: take the usual
        path."""
        environ = self.socketio.server.get_environ(sid, namespace=self.namespace)
        if not environ:
            return None
        app = environ["flask.app"]
        with app.app_context():
            try:
                return self._vote(person, data)
            except Exception as exc:  # answered below, with the request's language
                failure = exc
        with app.request_context(environ):
            request.sid = sid  # type: ignore[attr-defined]
            request.namespace = self.namespace  # type: ignore[attr-defined]

            def reraise() -> dict[str, Any]:
                raise failure

            return self._guard(reraise)

    def trigger_event(self, event: str, *args: Any) -> Any:
        if event == "vote" and args and args[0] in self._people:
            ack = self._vote_known(args[0], self._people[args[0]], args[1] if len(args) > 1 else None)
            if ack is not None:
                return ack
        if event not in ("connect", "disconnect") and not hasattr(self, "on_" + (event or "")):
            return error_ack(400, "Unknown event.")
        return super().trigger_event(event, *args)


# ---------------------------------------------------------------------------
# the vote writer: group commit


class Busy(DomainError):
    """The vote was not committed (the database was busy or failed, or the writer did not
    answer in time). Nothing was acknowledged; the phone sends it again with the same cid."""

    status = 503
    default_message = N_("The server is busy; your vote will be sent again.")


class _Person:
    """What a vote needs of a member, read inside the writing transaction. ``epoch``: the
    member's sign-in epoch when the connection signed in by cookie (``None``: by bearer
    token, or read by the writer); a vote on a connection whose epoch is no longer the
    member's is refused (:func:`core.services.auth.end_sign_ins`)."""

    __slots__ = ("id", "active", "community_id", "epoch")

    def __init__(self, id: int, active: bool, community_id: int, epoch: int | None = None) -> None:  # noqa: A002
        self.id, self.active, self.community_id, self.epoch = id, active, community_id, epoch


class VoteJob:
    """One vote waiting for the writer: the request, then its outcome or its error."""

    __slots__ = ("motion_id", "actor_id", "voter_id", "choice", "cid", "voter_key", "now", "done", "outcome",
                 "error", "epoch")

    def __init__(self, *, motion_id: int, actor_id: int, voter_id: int | None, choice: Any, cid: str | None,
                 voter_key: str | None, now: Any, done: Any, epoch: int | None = None) -> None:
        self.motion_id, self.actor_id, self.voter_id, self.choice = motion_id, actor_id, voter_id, choice
        self.epoch = epoch  # the connection's sign-in epoch, checked in the writing transaction
        self.cid, self.voter_key, self.now, self.done = cid, voter_key, now, done
        self.outcome: svc.CastOutcome | None = None
        self.error: BaseException | None = None


class VoteWriter:
    """One per application (so one per process): the only writer of votes. Handlers put
    a :class:`VoteJob` on the queue and wait; the writer takes everything that is queued
    (up to ``VOTING_BATCH_MAX``), casts each vote in its own SAVEPOINT — a refused vote
    gets its own error and leaves the others alone — commits the batch in **one**
    transaction, and only then wakes the handlers, which acknowledge. If the commit fails,
    every vote of the batch gets the 503 error (nothing of it is stored) and the phones send
    them again with the same cid. The writer is a background task of the Socket.IO server
    (a greenlet under gevent, a thread under threading), started on demand, ended after
    ``VOTING_WRITER_IDLE`` seconds without votes, and started again by the next vote — also
    after a crash."""

    def __init__(self, app: Any, socketio: Any) -> None:
        from web.dbthread import database_thread

        self.app = app
        self.socketio = socketio
        self.dbthread = database_thread(app)
        self.sessionmaker = self.dbthread.sessionmaker
        eio = socketio.server.eio
        self.queue = eio.create_queue()
        self.queue_empty = eio.get_queue_empty_exception()
        self.make_event = eio.create_event
        self.max_batch = int(app.config.get("VOTING_BATCH_MAX", 500))
        self.mix_min = mix_min(app)
        self.due: set[int] = set()  # secret motions whose sealed ballots are to be written out
        self.idle = float(app.config.get("VOTING_WRITER_IDLE", 30.0))
        self.timeout = float(app.config.get("VOTING_ACK_TIMEOUT", 20.0))
        self.clock = app.config.get("VOTING_MONOTONIC") or time.monotonic
        self.lock = threading.Lock()
        self.running = False
        self.beat = self.clock()
        self.starts = 0
        self.batches = 0
        self.votes = 0

    # -- handler side

    def cast(self, *, motion_id: int, actor_id: int, voter_id: int | None, choice: Any, cid: str | None,
             voter_key: str | None, now: Any, epoch: int | None = None) -> svc.CastOutcome:
        """Queue one vote and wait until the batch holding it is committed (or refused)."""
        job = VoteJob(motion_id=motion_id, actor_id=actor_id, voter_id=voter_id, choice=choice, cid=cid,
                      voter_key=voter_key, now=now, done=self.make_event(), epoch=epoch)
        self.submit(job)
        if not job.done.wait(self.timeout):
            log.error("the vote writer did not answer within %s s", self.timeout)
            with self.lock:  # a writer that made no progress for so long is replaced by the next vote
                if self.running and self.clock() - self.beat >= self.timeout:
                    self.running = False
            raise Busy()
        if job.error is not None:
            raise job.error
        assert job.outcome is not None
        return job.outcome

    def submit(self, job: VoteJob) -> None:
        with self.lock:
            self.queue.put(job)
            if not self.running:
                self.running = True
                self.beat = self.clock()
                self.starts += 1
                self.socketio.start_background_task(self._run)

    # -- writer side

    def _run(self) -> None:
        stopped = False
        try:
            while True:
                try:
                    first = self.queue.get(timeout=self.idle)
                except self.queue_empty:
                    with self.lock:
                        if self.queue.qsize() == 0:
                            self.running = False
                            stopped = True
                            return
                    continue
                self.beat = self.clock()
                self.socketio.sleep(0)  # let handlers that are ready to queue their votes do so
                batch = [first]
                while len(batch) < self.max_batch:
                    try:
                        batch.append(self.queue.get(block=False))
                    except self.queue_empty:
                        break
                try:
                    self.process(batch)
                except BaseException:
                    # this writer stops: say so *before* its handlers are answered, so a vote
                    # sent right after the 503 starts a new writer instead of queueing for this one
                    with self.lock:
                        self.running = False
                        stopped = True
                        if self.queue.qsize():  # votes that came meanwhile get a writer at once
                            self.running = True
                            self.starts += 1
                            self.socketio.start_background_task(self._run)
                    raise
                finally:  # whatever happened, no handler is left waiting for this batch
                    for job in batch:
                        if not job.done.is_set():
                            job.outcome, job.error = None, Busy()
                            job.done.set()
                self.beat = self.clock()
        except Exception:  # logged; the next vote starts a new writer
            log.exception("the vote writer stopped")
        finally:
            if not stopped:
                with self.lock:
                    self.running = False

    def process(self, jobs: list[VoteJob]) -> None:
        """Cast and commit one batch (on the database thread, ``web.dbthread``: under
        gevent its round trips do not wait for the hub); every job ends with an outcome
        or an error, and its handler is woken here, in the writer's own greenlet. Then, when
        enough sealed secret ballots wait, they are written out in a transaction of their
        own (after the handlers are woken: it delays no acknowledgement)."""
        self._process(jobs)
        if self.due:
            self.write_due()

    def write_due(self) -> None:
        """Write out the sealed ballots of the secret motions that have enough waiting
        (:func:`~core.services.votes.write_pending`), each motion in its own transaction,
        and send the new tally of those whose results are shown live. A failure is logged
        and changes nothing: the ballots stay sealed and are written by a later batch or at
        the close."""
        due, self.due = sorted(self.due), set()
        written = []
        for motion_id in due:
            try:
                if self.dbthread.run(self._write_pending_in_context, motion_id):
                    written.append(motion_id)
            except Exception:
                log.exception("the sealed ballots of motion %s were not written out", motion_id)
        b = broadcaster(self.app) if written else None
        for motion_id in written:
            if b is not None:
                b.tally_changed(motion_id)  # checked at send time: hidden results send nothing

    def _write_pending_in_context(self, motion_id: int) -> int:
        with self.app.app_context():
            db = self.sessionmaker()
            try:
                if db.get_bind().dialect.name == "sqlite":
                    db.connection().exec_driver_sql("BEGIN IMMEDIATE")
                written = svc.write_pending(db, motion_id, minimum=self.mix_min)
                db.commit()
                return written
            except BaseException:
                db.rollback()
                raise
            finally:
                db.close()

    def _process(self, jobs: list[VoteJob]) -> None:
        try:
            self.dbthread.run(self._write_in_context, jobs)
            self.batches += 1
            self.votes += len(jobs)
        except Exception as exc:
            if isinstance(exc, OperationalError):
                log.error("vote batch of %s not committed: %s", len(jobs), exc)
            else:
                log.exception("vote batch of %s not committed", len(jobs))
            for job in jobs:
                job.outcome, job.error = None, Busy()
        finally:
            for job in jobs:
                if job.outcome is None and job.error is None:
                    job.error = Busy()
                job.done.set()

    def _write_in_context(self, jobs: list[VoteJob]) -> None:
        with self.app.app_context():
            self._write(jobs)

    def _write(self, jobs: list[VoteJob]) -> None:
        """Cast the batch in one transaction and commit it. A refused vote (a domain error)
        is refused before it writes anything, so it needs no savepoint of its own. The batch
        is read in a few queries and its writes are sent together at the end
        (:class:`~core.services.votes.CastBatch`); if something other than a refusal fails
        there, the transaction is rolled back — nothing of it was committed — and the batch
        is cast again one write at a time, so the vote at fault is known. A vote that fails
        then (a bug, or the unique constraint catching a race) rolls the whole transaction
        back and the batch is cast again without it (after one more try, for a race); the
        others are unaffected. A database error (locked, down) fails the whole batch: every
        vote of it gets the 503 error."""
        pending = list(jobs)
        tries: dict[int, int] = {}
        defer = True
        while pending:
            failed = self._attempt(pending, defer=defer)
            if failed is None:
                return
            job, exc = failed
            for other in pending:
                other.outcome = other.error = None
            if job is None:  # a write of the deferred batch failed: find the vote, one write at a time
                log.warning("vote batch of %s failed as a whole (%s: %s); casting it one write at a time",
                            len(pending), type(exc).__name__, exc)
                defer = False
                continue
            tries[id(job)] = tries.get(id(job), 0) + 1
            if not isinstance(exc, IntegrityError) or tries[id(job)] > 1:
                log.error("vote on motion %s failed: %s: %s", job.motion_id, type(exc).__name__, exc)
                pending.remove(job)
                job.outcome, job.error = None, exc

    def _attempt(self, jobs: list[VoteJob], *, defer: bool = True) -> tuple[VoteJob | None, Exception] | None:
        """One try at the batch: ``None`` when committed, else the vote that failed and
        its error (no vote: a deferred write failed, which one is not known)."""
        from core.models import Member

        db = self.sessionmaker()
        try:
            conn = db.connection()
            if conn.dialect.name == "sqlite":
                # take the write lock first, so every read below sees what this batch writes over
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            ids = {j.actor_id for j in jobs} | {j.voter_id for j in jobs if j.voter_id is not None}
            people = {i: _Person(i, a, c, e or 0) for i, a, c, e in db.execute(
                select(Member.id, Member.active, Member.community_id, Member.sign_in_epoch)
                .where(Member.id.in_(ids)))}
            batch = svc.CastBatch(db, defer=defer, mix_min=self.mix_min)
            if defer:
                try:
                    self._prepare(db, batch, jobs)
                except OperationalError:
                    raise
                except Exception as exc:
                    db.rollback()
                    return None, exc
            for job in jobs:
                try:
                    motion = db.get(svc.Motion, job.motion_id)
                    if motion is None:
                        raise NotFound(N_("No such motion."), field="motion")
                    actor: Any = people.get(job.actor_id)
                    if actor is None or (job.epoch is not None and actor.epoch != job.epoch):
                        raise Forbidden(N_("Please sign in to vote."))
                    voter = None
                    if job.voter_id is not None and job.voter_id != job.actor_id:
                        actor = db.get(Member, job.actor_id)  # an assisted vote: the actor's roles are checked
                        voter = people.get(job.voter_id)
                        if voter is None:
                            raise NotFound(N_("Not found."), field="member_id")
                    job.outcome = batch.cast(actor=actor, motion=motion, choice=job.choice, voter=voter,
                                             client_id=job.cid, voter_key=job.voter_key, now=job.now)
                except DomainError as exc:  # refused (before writing anything): its own error ack
                    job.error = exc
                except OperationalError:  # the database itself: the whole batch is not committed
                    raise
                except Exception as exc:  # this vote (or, deferred, an earlier one's write) failed halfway
                    db.rollback()
                    return (None if defer else job), exc
            try:
                batch.finish()
            except Exception as exc:
                if not defer or isinstance(exc, OperationalError):
                    raise  # the head update or the database itself: the whole batch is not committed
                db.rollback()
                return None, exc
            db.commit()
            self.due.update(batch.due)
            return None
        except BaseException:
            db.rollback()
            raise
        finally:
            db.close()

    @staticmethod
    def _prepare(db: Any, batch: svc.CastBatch, jobs: list[VoteJob]) -> None:
        """Read what the batch's votes will ask, per motion, in a few queries."""
        voters: dict[int, tuple[set[int], set[str]]] = {}
        for job in jobs:
            ids, keys = voters.setdefault(job.motion_id, (set(), set()))
            ids.add(job.voter_id if job.voter_id is not None else job.actor_id)
            if job.voter_key:
                keys.add(job.voter_key)
        for motion_id, (ids, keys) in voters.items():
            motion = db.get(svc.Motion, motion_id)
            if motion is not None:
                batch.prepare(motion, ids, keys)


def mix_min(app: Any = None) -> int:
    """How many sealed secret ballots must wait before they are written out
    (``VOTING_MIX_MIN``; all are written at the close)."""
    app = app or current_app._get_current_object()
    return max(1, int(app.config.get("VOTING_MIX_MIN", svc.MIX_MIN)))


def vote_writer(app: Any = None) -> VoteWriter | None:
    """The application's vote writer (made on first use); ``None`` without a Socket.IO
    server, or with ``VOTING_GROUP_COMMIT`` off: then each vote commits on its own."""
    app = app or current_app._get_current_object()
    if not app.config.get("VOTING_GROUP_COMMIT", True):
        return None
    return _per_app(app, "plugin_voting_writer", VoteWriter)


_SQLITE_WRITE_LOCK = threading.Lock()


def _sqlite_writer(db: Any) -> Any:
    """On SQLite, one writer per process at a time: threads queue on a lock instead of
    on SQLite's busy handler, whose sleeps with back-off made the slowest acknowledgements
    hundreds of milliseconds late. (PostgreSQL queues on the motion's row lock instead.)"""
    from contextlib import nullcontext

    bind = db.get_bind()
    return _SQLITE_WRITE_LOCK if bind.dialect.name == "sqlite" else nullcontext()


def _cast_alone(db: Any, *, motion: Any, actor: Any, voter: Any, choice: Any, payload: dict[str, Any],
                now: Any) -> svc.CastOutcome:
    """One vote, one transaction (no Socket.IO server: the CLI, scripts). Sealed secret
    ballots that are due are written out after it, in a transaction of their own."""
    minimum = mix_min()
    try:
        with _sqlite_writer(db):
            outcome = svc.cast_ballot(db, actor=actor, motion=motion, choice=choice, voter=voter,
                                      client_id=payload.get("cid"), voter_key=payload.get("voter_key"), now=now,
                                      mix_min=minimum)
            db.commit()
    except IntegrityError:  # the unique constraint caught a race the lock did not (defence in depth)
        db.rollback()
        outcome = svc.cast_ballot(db, actor=actor, motion=motion, choice=choice, voter=voter,
                                  client_id=payload.get("cid"), voter_key=payload.get("voter_key"), now=now,
                                  mix_min=minimum)
        db.commit()
    if outcome.mix_due:
        try:
            with _sqlite_writer(db):
                outcome.extra["written_out"] = svc.write_pending(db, motion.id, minimum=minimum)
                db.commit()
        except Exception:  # the vote is committed; its ballot waits, sealed, for the next batch or the close
            db.rollback()
            log.exception("the sealed ballots of motion %s were not written out", motion.id)
    return outcome


class OpenMotion:
    """What a vote needs to know of an open motion, none of which changes while it is open
    (options, parameters, secrecy, visibility and community are fixed once a draft is
    opened): kept by :class:`MotionCache` with the tally method and its ballot schema."""

    __slots__ = ("id", "community_id", "options", "params", "secret", "results_visibility", "method_key", "method",
                 "schema", "expires")

    def __init__(self, motion: Any, method: Any, expires: float) -> None:
        self.id, self.community_id, self.options = motion.id, motion.community_id, list(motion.options)
        self.params, self.secret = dict(motion.params or {}), motion.secret
        self.results_visibility, self.method_key = motion.results_visibility, motion.method_key
        from plugins.voting.schemas import ballot_schema

        self.method, self.schema, self.expires = method, ballot_schema(method, motion), expires


class MotionCache:
    """Per application: :class:`OpenMotion` entries of open motions, so a vote asks the
    database nothing before the writer. An entry lives ``VOTING_MOTION_CACHE_SECONDS`` (2)
    at most — so a plugin turned off in the community, or a motion closed by another
    process, is seen within that time — and is dropped at once when this process closes the
    motion. It is never the judge of whether a vote counts: the writer re-checks the status
    and the window under the motion's row lock, and the voter inside the transaction."""

    def __init__(self, app: Any) -> None:
        self.ttl = float(app.config.get("VOTING_MOTION_CACHE_SECONDS", 2.0))
        self.clock = app.config.get("VOTING_MONOTONIC") or time.monotonic
        self.entries: dict[int, OpenMotion] = {}
        self.refreshing: set[int] = set()

    def get(self, db: Any, motion_id: int) -> Any:
        """The cached entry, or the motion read now (and cached when it is open). When an
        entry has expired, one vote reads the motion again while the votes arriving
        meanwhile use the expired entry (at 500 votes a second every one of them used to
        read it at once, and queued for database connections)."""
        now = self.clock()
        entry = self.entries.get(motion_id)
        if entry is not None and entry.expires > now:
            return entry
        if entry is not None and motion_id in self.refreshing:
            return entry
        self.refreshing.add(motion_id)
        try:
            motion = db.get(svc.Motion, motion_id)
            if motion is None or motion.status != "open" or self.ttl <= 0:
                self.entries.pop(motion_id, None)
                return motion
            entry = self.entries[motion_id] = OpenMotion(motion, method_for(db, motion), self.clock() + self.ttl)
            return entry
        finally:
            self.refreshing.discard(motion_id)

    def forget(self, motion_id: int) -> None:
        self.entries.pop(motion_id, None)


def motion_cache(app: Any = None) -> MotionCache:
    return _per_app(app, "plugin_voting_motions", lambda app, _socketio: MotionCache(app), needs_socketio=False)


def cast_and_ack(db: Any, *, motion: Any, actor: Any, payload: dict[str, Any], now: Any) -> dict[str, Any]:
    """Load the ballot through the method's schema, cast it, commit, then acknowledge and
    ask for a tally broadcast. Shared by the socket handler and the JSON API. ``motion`` is
    a :class:`~core.models.vote.Motion` or its cached :class:`OpenMotion`."""
    from core.services.access import get_in_community
    from core.models import Member
    from plugins.voting.schemas import load_ballot

    if isinstance(motion, OpenMotion):
        choice = load_ballot(motion.method, motion, payload["ballot"], schema=motion.schema)
    else:
        choice = load_ballot(method_for(db, motion), motion, payload["ballot"])
    voter = None
    if payload.get("member_id") is not None:
        voter = get_in_community(db, Member, payload["member_id"], motion.community_id, field="member_id")
    writer = vote_writer()
    if writer is not None:  # group commit: acknowledged after the batch holding it is committed
        db.commit()  # end this read-only unit of work: its pooled connection goes back while we wait
        outcome = writer.cast(motion_id=motion.id, actor_id=actor.id, voter_id=voter.id if voter else None,
                              choice=choice, cid=payload.get("cid"), voter_key=payload.get("voter_key"), now=now,
                              epoch=actor.epoch if isinstance(actor, _Person) else None)
    else:
        if isinstance(motion, OpenMotion):
            motion = svc.get_motion(db, motion.id)
        if isinstance(actor, _Person):  # a connection's identity, read at its first vote: read it again
            member = db.get(Member, actor.id)
            if member is None or (actor.epoch is not None and (member.sign_in_epoch or 0) != actor.epoch):
                raise Forbidden(N_("Please sign in to vote."))
            actor = member
        outcome = _cast_alone(db, motion=motion, actor=actor, voter=voter, choice=choice, payload=payload, now=now)
    ack: dict[str, Any] = {"ok": True, "motion_id": motion.id, "receipt": outcome.receipt, "nonce": outcome.nonce,
                           "first": outcome.first, "changed": outcome.changed, "duplicate": outcome.duplicate,
                           "assisted": outcome.assisted_by_id is not None}
    if outcome.voter_key is not None:
        ack["voter_key"] = outcome.voter_key
    b = broadcaster() if svc.results_live(motion) else None  # hidden results: nothing to send
    # a secret vote changes the tally only when its batch is written out (the writer, or
    # _cast_alone, which says so in ``written_out``)
    changed = (outcome.first or outcome.changed) if not motion.secret else outcome.extra.get("written_out")
    if b is not None and changed:
        b.tally_changed(motion.id)
    return ack

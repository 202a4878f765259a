"""What a server process does for ``/live`` besides answering clients:

* it is a :class:`~core.models.LiveProcess` row with a heartbeat, bumped every
  ``heartbeat`` seconds; its connections record it;
* every beat it sweeps the connections of processes whose heartbeat is older than
  ``timeout`` (killed, frozen, unplugged): those residents are announced as gone, so
  every phone's count corrects itself;
* it takes the floor back when the speaking time runs out: a timer set when the floor is
  given (in the process that gave it), re-armed by every process's beat for timed floors
  it finds (after a restart, or given by another process), plus lazy checks on joins and
  snapshots. The release is a conditional update, so it happens once whoever gets there.

* it announces who is here (:class:`Presence`): joins and closed connections are
  collected per room and told in one ``presence`` event at most every ``presence_interval``
  seconds (the first change after a quiet spell at once), and the closed connections'
  rows are deleted in the same transaction — so a storm of N reconnecting phones is a
  handful of transactions and events, not 2·N, and re-joins do not queue behind leaves.

``clock`` (aware datetimes) and ``schedule(delay_seconds, fn)`` are injected, so tests
move time instead of sleeping. Started on the first ``/live`` connection of the process
(never at import or app creation, so CLI commands and test apps start nothing).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from datetime import datetime, timedelta
from typing import Any, Callable

from core.db import session_scope
from core.services import live as live_service

log = logging.getLogger("courtyard.live")

Schedule = Callable[[float, Callable[[], None]], None]


def make_process_id() -> str:
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{secrets.token_hex(6)}"


def background_schedule(socketio: Any) -> Schedule:
    """``schedule`` on Socket.IO's background tasks (threads or greenlets, whichever the
    server runs)."""

    def schedule(delay: float, fn: Callable[[], None]) -> None:
        def run() -> None:
            socketio.sleep(max(0.0, delay))
            fn()

        socketio.start_background_task(run)

    return schedule


class LiveUpkeep:
    def __init__(self, app: Any, *, connections: dict[str, tuple[int, int]], clock: Callable[[], datetime],
                 schedule: Schedule | None, heartbeat: float = 10.0, timeout: float = 30.0,
                 process_id: str | None = None, presence_interval: float = 0.5) -> None:
        self.app = app
        #: sid → (session id, participant id) of this process's joined connections
        self.connections = connections
        self.clock = clock
        #: None: no background work (test apps that inject nothing); lazy checks still run
        self.schedule = schedule
        self.heartbeat = heartbeat
        self.timeout = timedelta(seconds=timeout)
        self.process_id = process_id or make_process_id()
        self.started = False
        self.armed: set[int] = set()
        self._lock = threading.Lock()
        self.presence = Presence(self, interval=presence_interval)

    # -- plumbing ----------------------------------------------------------

    def _run(self, what: str, work: Callable[[Any], list[Any]]) -> list[Any]:
        """One unit of work, then broadcast its events; a failure is logged (the next
        beat tries again), never raised into a timer thread."""
        events = self.commit(what, work)
        if events is None:
            return []
        self.broadcast(events)
        return events

    def commit(self, what: str, work: Callable[[Any], list[Any]]) -> list[Any] | None:
        """Run ``work`` in a unit of work and commit; its events are announced as about to
        be broadcast before the commit (see :class:`~plugins.discussion.state.Broadcasts`).
        None when it failed (logged)."""
        from plugins.discussion.state import broadcasts_for

        cy = self.app.extensions["courtyard"]
        sending = broadcasts_for(self.app)
        marked: list[Any] = []
        try:
            with self.app.app_context(), session_scope(cy.sessionmaker) as db:
                events = [e for e in work(db) if e is not None]
                marked = events
                for event in events:
                    sending.sending(event.session_id, [event.seq])
        except Exception:
            log.exception("live upkeep: %s failed", what)
            for event in marked:
                sending.cancel(event.session_id, [event.seq])
            return None
        return events

    def broadcast(self, events: list[Any]) -> None:
        from plugins.discussion.namespace import NAMESPACE, room_name
        from plugins.discussion.state import broadcasts_for

        socketio = self.app.extensions["courtyard"].socketio
        broadcasts = broadcasts_for(self.app)
        for event in events:
            try:
                broadcasts.emit(event.session_id, event.seq, lambda event=event: socketio.emit(
                    "event", live_service.event_dict(event), to=room_name(event.session_id), namespace=NAMESPACE))
            except Exception:  # the event is stored; phones get it on their next sync (re-joins replay it)
                log.exception("live upkeep: broadcast of event %s failed", event.seq)

    # -- the process and its heartbeat -------------------------------------

    def start(self) -> None:
        """Register this process, sweep once, and (with a scheduler) beat from now on.
        Idempotent; called on every ``/live`` connection."""
        if self.started:
            return
        with self._lock:
            if self.started:
                return
            self.started = True
        self._run("registering", lambda db: live_service.register_process(db, process_id=self.process_id,
                                                                          now=self.clock()) or [])
        self.beat()

    def beat(self) -> None:
        """Heartbeat, sweep dead processes, take back floors whose time ran out, and arm
        timers for the timed floors held now; then schedule the next beat."""
        try:
            self._heartbeat()
            self.sweep()
            self.check_floors()
        finally:
            if self.schedule is not None:
                self.schedule(self.heartbeat, self.beat)

    def _heartbeat(self) -> None:
        def work(db: Any) -> list[Any]:
            now = self.clock()
            if live_service.heartbeat(db, process_id=self.process_id, now=now):
                return []
            # taken for dead while we were paused: our connections were swept; record them again
            log.warning("live upkeep: process %s was swept as dead; restoring its connections", self.process_id)
            live_service.register_process(db, process_id=self.process_id, now=now)
            return live_service.restore_connections(db, process_id=self.process_id,
                                                    connections=dict(self.connections), now=now)

        self._run("heartbeat", work)

    def sweep(self) -> list[Any]:
        return self._run("sweeping dead processes", lambda db: live_service.sweep_dead_processes(
            db, stale_after=self.timeout, keep=self.process_id, now=self.clock()))

    # -- the floor's speaking time -----------------------------------------

    def check_floors(self) -> list[Any]:
        """Release every floor whose time is up; arm a timer for the others."""
        def work(db: Any) -> list[Any]:
            now, released = self.clock(), []
            for session_id, request_id, ends_at in live_service.timed_floors(db):
                if ends_at <= now:
                    released.append(live_service.expire_floor(db, session_id=session_id, request_id=request_id,
                                                              now=now))
                else:
                    self.arm(session_id, request_id, ends_at)
            return released

        return self._run("checking floors", work)

    def arm(self, session_id: int, request_id: int, ends_at: datetime) -> None:
        """Take the floor back at ``ends_at`` (once per turn and process)."""
        if self.schedule is None:
            return
        with self._lock:
            if request_id in self.armed:
                return
            self.armed.add(request_id)
        self.schedule(max(0.0, (ends_at - self.clock()).total_seconds()),
                      lambda: self._fire(session_id, request_id, ends_at))

    def _fire(self, session_id: int, request_id: int, ends_at: datetime) -> None:
        left = (ends_at - self.clock()).total_seconds()
        if left > 0 and self.schedule is not None:  # woke a little early: wait for the rest
            self.schedule(left, lambda: self._fire(session_id, request_id, ends_at))
            return
        with self._lock:
            self.armed.discard(request_id)
        self._run("taking the floor back", lambda db: [live_service.expire_floor(
            db, session_id=session_id, request_id=request_id, now=self.clock())])


class Presence:
    """Who is here, announced per room at most every ``interval`` seconds.

    A join (after its commit) and a closed connection are noted in memory; a flush then
    deletes the closed connections' rows and appends one ``presence`` event per room that
    changed (:func:`core.services.live.announce_presence`), in one transaction. The first
    change after ``interval`` of quiet is flushed at once, in the caller; later ones wait
    for the next flush, scheduled ``interval`` after the last. Without a scheduler (test
    apps that inject none) every change is flushed at once. A failed flush keeps its
    changes for the next one (the connection rows of a process that dies meanwhile are
    swept as a dead process's)."""

    def __init__(self, upkeep: LiveUpkeep, *, interval: float) -> None:
        self.upkeep = upkeep
        self.interval = timedelta(seconds=max(0.0, interval))
        self._lock = threading.Lock()
        #: session id → participants whose presence changed since the last flush
        self._changes: dict[int, set[int]] = {}
        #: sid → when it closed, of connections whose rows are still to delete
        self._left: dict[str, datetime] = {}
        self._armed = False
        self._last: datetime | None = None

    def joined(self, session_id: int, participant_id: int) -> None:
        with self._lock:
            self._changes.setdefault(session_id, set()).add(participant_id)
        self._arm()

    def left(self, sid: str, session_id: int, participant_id: int, when: datetime) -> None:
        with self._lock:
            self._changes.setdefault(session_id, set()).add(participant_id)
            self._left[sid] = when
        self._arm()

    @property
    def waiting(self) -> int:
        """Changes not announced yet (joins and leaves noted since the last flush)."""
        with self._lock:
            return sum(len(v) for v in self._changes.values()) + len(self._left)

    def _arm(self) -> None:
        now = self.upkeep.clock()
        with self._lock:
            if self._armed:
                return
            self._armed = True
            delay = 0.0 if self._last is None else (self._last + self.interval - now).total_seconds()
        if delay <= 0 or self.upkeep.schedule is None:
            self.flush()
        else:
            self.upkeep.schedule(delay, self.flush)

    def flush(self) -> list[Any]:
        with self._lock:
            self._armed = False
            changes, left = self._changes, self._left
            self._changes, self._left = {}, {}
            self._last = self.upkeep.clock()
        if not changes and not left:
            return []
        events = self.upkeep.commit("announcing presence (kept for the next flush)", lambda db: (
            live_service.announce_presence(db, changes=changes, left=left, now=self.upkeep.clock())))
        if events is None:
            with self._lock:  # keep them for the next flush
                for session_id, ids in changes.items():
                    self._changes.setdefault(session_id, set()).update(ids)
                for sid, when in left.items():
                    self._left.setdefault(sid, when)
            if self.upkeep.schedule is not None:
                self._arm()  # after the interval
            return []
        self.upkeep.broadcast(events)
        return events

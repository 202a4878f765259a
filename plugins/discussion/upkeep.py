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
                 process_id: str | None = None) -> None:
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

    # -- plumbing ----------------------------------------------------------

    def _run(self, what: str, work: Callable[[Any], list[Any]]) -> list[Any]:
        """One unit of work, then broadcast its events; a failure is logged (the next
        beat tries again), never raised into a timer thread."""
        cy = self.app.extensions["courtyard"]
        try:
            with self.app.app_context(), session_scope(cy.sessionmaker) as db:
                events = [e for e in work(db) if e is not None]
        except Exception:
            log.exception("live upkeep: %s failed", what)
            return []
        self.broadcast(events)
        return events

    def broadcast(self, events: list[Any]) -> None:
        from plugins.discussion.namespace import NAMESPACE, room_name

        socketio = self.app.extensions["courtyard"].socketio
        for event in events:
            try:
                socketio.emit("event", live_service.event_dict(event), to=room_name(event.session_id),
                              namespace=NAMESPACE)
            except Exception:  # the event is stored; phones get it on their next sync
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

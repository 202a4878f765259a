"""Per-application helpers of the discussion plugin: the join-code attempt limiter, the
clock (tests inject ``DISCUSSION_CLOCK``; a callable returning an aware datetime) and the
process's upkeep (heartbeat, sweeps, floor timers; tests inject ``DISCUSSION_SCHEDULE``).

Settings (app config; the environment variable in brackets, read by web/config.py):

* ``DISCUSSION_JOIN_ATTEMPTS`` (10), ``DISCUSSION_JOIN_WINDOW`` (300 s): failed join
  codes per address and window. Shared by all processes through Redis when
  ``COURTYARD_MESSAGE_QUEUE`` (or ``DISCUSSION_JOIN_REDIS``) is a ``redis://`` URL; keys
  start with ``DISCUSSION_JOIN_REDIS_PREFIX`` ("courtyard:").
* ``DISCUSSION_HEARTBEAT`` [``COURTYARD_LIVE_HEARTBEAT``] (10 s): how often a process
  beats, sweeps and checks floors.
* ``DISCUSSION_PROCESS_TIMEOUT`` [``COURTYARD_LIVE_PROCESS_TIMEOUT``] (30 s): a process
  whose heartbeat is older is dead and its connections are swept (at least twice the
  heartbeat).
* ``DISCUSSION_PRESENCE_INTERVAL`` (0.5 s): joins and leaves of a room are announced
  together, in one ``presence`` event at most this often per process (0: each at once).
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable

from core.db import utcnow
from plugins.discussion.ratelimit import AttemptLimiter, RedisAttemptLimiter, redis_client
from plugins.discussion.upkeep import LiveUpkeep, background_schedule

log = logging.getLogger("courtyard.live")

_LOCK = threading.Lock()

REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def _ext(app: Any) -> dict[str, Any]:
    return app.extensions.setdefault("plugin_discussion", {})


def _seconds(app: Any, key: str, default: float) -> float:
    value = app.config.get(key)
    if value is None:
        return default
    try:
        value = float(value)
    except (TypeError, ValueError):
        log.warning("%s is not a number of seconds (%r); using %s", key, value, default)
        return default
    return value if value > 0 else default


def limiter_for(app: Any) -> AttemptLimiter | RedisAttemptLimiter:
    ext = _ext(app)
    if "limiter" not in ext:
        with _LOCK:
            if "limiter" not in ext:
                ext["limiter"] = _make_limiter(app)
    return ext["limiter"]


def _make_limiter(app: Any) -> AttemptLimiter | RedisAttemptLimiter:
    limit = int(app.config.get("DISCUSSION_JOIN_ATTEMPTS", 10))
    window = float(app.config.get("DISCUSSION_JOIN_WINDOW", 300))
    url = app.config.get("DISCUSSION_JOIN_REDIS") or app.config.get("MESSAGE_QUEUE")
    if not (url and str(url).startswith(REDIS_SCHEMES)):
        return AttemptLimiter(limit=limit, window=window)
    import time

    clock = app.config.get("DISCUSSION_JOIN_CLOCK") or time.time
    return RedisAttemptLimiter(redis_client(str(url)), limit=limit, window=window, clock=clock,
                               prefix=app.config.get("DISCUSSION_JOIN_REDIS_PREFIX", "courtyard:"))


class RecentEvents:
    """The latest stored events of each room, as this process read them for replays
    (``seq`` → row of :func:`core.services.live.events_since`). A stored event never
    changes, so a storm of phones re-joining with nearly the same ``since`` reads the
    database only for what no earlier one read. Keeps ``keep`` events per room and
    ``rooms`` rooms (the least recently used go)."""

    def __init__(self, *, keep: int = 600, rooms: int = 200) -> None:
        self.keep, self.max_rooms = keep, rooms
        self._rooms: dict[int, dict[int, Any]] = {}
        self._lock = threading.Lock()

    def between(self, db: Any, session_id: int, after: int, upto: int) -> list[Any]:
        """The events after ``after`` up to ``upto``, in order (up to MAX_REPLAY)."""
        from core.services import live as live_service

        upto = min(upto, after + live_service.MAX_REPLAY)
        with self._lock:
            room = self._rooms.pop(session_id, None) or {}
            self._rooms[session_id] = room  # most recently used last
            rows, seq = [], after + 1
            while seq <= upto and seq in room:
                rows.append(room[seq])
                seq += 1
        if seq <= upto:
            more = live_service.events_since(db, session_id=session_id, after=seq - 1, upto=upto)
            rows += more
            with self._lock:
                room = self._rooms.setdefault(session_id, {})
                for row in more:
                    room[row.seq] = row
                if len(room) > self.keep:
                    for old in sorted(room)[:len(room) - self.keep]:
                        del room[old]
                while len(self._rooms) > self.max_rooms:
                    del self._rooms[next(iter(self._rooms))]
        return rows


class Broadcasts:
    """Which events of a room this process is about to broadcast or has just broadcast,
    so a re-join's replay can leave out what reaches the phone live anyway (no duplicate
    delivery): a writer calls :meth:`sending` before its commit and broadcasts with
    :meth:`emit`, which records the event as sent just before it goes out; a joiner takes :meth:`mark` when it enters the room and, after reading
    the room's last seq, :meth:`live_since` — the seqs still to be broadcast (they will
    reach it, it is in the room) and those broadcast since the mark (they did)."""

    def __init__(self, *, keep: int = 2000) -> None:
        self._lock = threading.Lock()
        self._pending: dict[int, dict[int, int]] = {}  # room → seq → writers sending it
        self._sent: dict[int, list[tuple[int, int]]] = {}  # room → [(tick, seq)], oldest first
        self._tick = 0
        self.keep = keep

    def sending(self, session_id: int, seqs: list[int]) -> None:
        with self._lock:
            room = self._pending.setdefault(session_id, {})
            for seq in seqs:
                room[seq] = room.get(seq, 0) + 1

    def sent(self, session_id: int, seqs: list[int]) -> None:
        with self._lock:
            room = self._pending.get(session_id, {})
            log = self._sent.setdefault(session_id, [])
            for seq in seqs:
                if room.get(seq, 0) > 1:
                    room[seq] -= 1
                else:
                    room.pop(seq, None)
                self._tick += 1
                log.append((self._tick, seq))
            if len(log) > self.keep:
                del log[:len(log) - self.keep]

    def emit(self, session_id: int, seq: int, send: Callable[[], None]) -> None:
        """Broadcast one committed event with ``send()``, recorded as sent *before* it runs.
        ``send`` hands the event to this process's phones at once and then, with a message
        queue, publishes it to Redis and waits on the network; a joiner that enters the room
        during that wait must find the event already sent (it went to the room before the
        joiner was in it: its replay brings it), not still to come — recorded afterwards, it
        was left out of the replay and never reached that phone (two processes sharing a
        room lost one event for each of ~200 of 2,000 phones re-joining at once,
        ``docs/benchmarks.md``). If ``send`` raises, the record is withdrawn: re-joins replay
        the event."""
        self.sent(session_id, [seq])
        try:
            send()
        except BaseException:
            with self._lock:
                log = self._sent.get(session_id, [])
                for i in range(len(log) - 1, -1, -1):
                    if log[i][1] == seq:
                        del log[i]
                        break
            raise

    def cancel(self, session_id: int, seqs: list[int]) -> None:
        """The commit failed: nothing will be broadcast (the seqs were not used)."""
        with self._lock:
            room = self._pending.get(session_id, {})
            for seq in seqs:
                if room.get(seq, 0) > 1:
                    room[seq] -= 1
                else:
                    room.pop(seq, None)

    def mark(self) -> int:
        with self._lock:
            return self._tick

    def live_since(self, session_id: int, mark: int) -> set[int]:
        with self._lock:
            out = set(self._pending.get(session_id, ()))
            log = self._sent.get(session_id, [])
            if log and log[0][0] > mark + 1:  # forgotten some: cannot tell, replay them all
                return out
            out.update(seq for tick, seq in log if tick > mark)
            return out


def broadcasts_for(app: Any) -> Broadcasts:
    ext = _ext(app)
    if "broadcasts" not in ext:
        with _LOCK:
            ext.setdefault("broadcasts", Broadcasts())
    return ext["broadcasts"]


def recent_events_for(app: Any) -> RecentEvents:
    ext = _ext(app)
    if "recent" not in ext:
        with _LOCK:
            ext.setdefault("recent", RecentEvents())
    return ext["recent"]


def clock_for(app: Any) -> Callable[[], Any]:
    return app.config.get("DISCUSSION_CLOCK") or utcnow


def upkeep_for(app: Any, connections: dict[str, tuple[int, int]]) -> LiveUpkeep:
    """The process's upkeep for ``app`` (made on first use). Background work runs on
    ``DISCUSSION_SCHEDULE`` if injected, on Socket.IO background tasks in a server, and not
    at all in a test app that injects nothing (its lazy checks still run)."""
    app = getattr(app, "_get_current_object", lambda: app)()  # the app itself, not current_app's proxy
    ext = _ext(app)
    upkeep = ext.get("upkeep")
    if upkeep is None:
        with _LOCK:
            upkeep = ext.get("upkeep")
            if upkeep is None:
                schedule = app.config.get("DISCUSSION_SCHEDULE")
                if schedule is None and not app.testing:
                    schedule = background_schedule(app.extensions["courtyard"].socketio)
                heartbeat = _seconds(app, "DISCUSSION_HEARTBEAT", 10.0)
                timeout = _seconds(app, "DISCUSSION_PROCESS_TIMEOUT", 30.0)
                if timeout < 2 * heartbeat:
                    log.warning("live process timeout %ss is under two heartbeats (%ss); using %ss",
                                timeout, heartbeat, 2 * heartbeat)
                    timeout = 2 * heartbeat
                interval = app.config.get("DISCUSSION_PRESENCE_INTERVAL")
                interval = 0.5 if interval is None else max(0.0, float(interval))
                upkeep = ext["upkeep"] = LiveUpkeep(app, connections=connections, clock=clock_for(app),
                                                    schedule=schedule, heartbeat=heartbeat, timeout=timeout,
                                                    presence_interval=interval)
    return upkeep

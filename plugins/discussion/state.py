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
                upkeep = ext["upkeep"] = LiveUpkeep(app, connections=connections, clock=clock_for(app),
                                                    schedule=schedule, heartbeat=heartbeat, timeout=timeout)
    return upkeep

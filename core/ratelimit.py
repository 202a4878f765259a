"""Sliding-window limiters of failed attempts, per key (a client address, an account...).

* :class:`AttemptLimiter` — in memory, per process: the single-process default.
* :class:`RedisAttemptLimiter` — one sorted set per key in Redis, so every process
  behind a load balancer counts against the same limit (used when
  ``COURTYARD_MESSAGE_QUEUE`` is a ``redis://`` URL). When Redis errors it logs and falls
  back to an in-memory limiter (which it keeps counting in all along), so a Redis hiccup
  neither locks anyone out nor fails their request.

Users: the discussion plugin's join-code attempts (``join-attempts:<address>``) and
password sign-ins (``sign-in:...``, web/auth.py). Only failures are counted, and an
attempt refused because its key is blocked is not, so a key is blocked at most
``window`` seconds after its last counted failure.

Clocks are injected for tests (seconds as a float).
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections import deque
from typing import Any, Callable

log = logging.getLogger("courtyard.live")


#: keys an in-memory limiter holds at most (a flood of user names or addresses)
MAX_KEYS = 100_000


class AttemptLimiter:
    """Failed attempts per key in this process's memory. At most ``max_keys`` keys are
    held: past that, keys whose failures left the window go first, then the keys not
    blocked that failed longest ago. A blocked key is dropped last of all, so a flood of
    new keys (many user names, many addresses) neither grows memory without bound nor
    frees an account someone is guessing at."""

    def __init__(self, limit: int = 10, window: float = 300.0, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = MAX_KEYS):
        self.limit, self.window, self.clock, self.max_keys = limit, window, clock, max_keys
        self._hits: dict[str, deque[float]] = {}  # in order of last failure, oldest first
        self._lock = threading.Lock()

    def _trim(self, key: str) -> deque[float]:
        hits = self._hits.setdefault(key, deque())
        cutoff = self.clock() - self.window
        while hits and hits[0] <= cutoff:
            hits.popleft()
        return hits

    def blocked(self, key: str) -> bool:
        return self.blocked_for(key) > 0

    def blocked_for(self, key: str) -> float:
        """Seconds until ``key`` may try again (0: it may now)."""
        with self._lock:
            hits = self._trim(key)
            if not hits:
                self._hits.pop(key, None)
            if len(hits) < self.limit:
                return 0.0
            # free again when the oldest of the last ``limit`` failures leaves the window
            return max(hits[len(hits) - self.limit] + self.window - self.clock(), 1e-6)

    def failed(self, key: str) -> None:
        with self._lock:
            hits = self._trim(key)
            hits.append(self.clock())
            self._hits[key] = self._hits.pop(key)  # now the latest to fail
            if len(self._hits) > self.max_keys:
                self._evict()

    def _evict(self) -> None:
        """Down to nine tenths of ``max_keys`` (so this runs once per many failures)."""
        keep = self.max_keys * 9 // 10
        cutoff = self.clock() - self.window
        for key in [k for k, h in self._hits.items() if not h or h[-1] <= cutoff]:
            del self._hits[key]
        for blocked_too in (False, True):
            excess = len(self._hits) - keep
            if excess <= 0:
                return
            for key in [k for k, h in self._hits.items() if blocked_too or len(h) < self.limit][:excess]:
                del self._hits[key]

    def forget(self, key: str) -> None:
        with self._lock:
            self._hits.pop(key, None)


def redis_client(url: str, *, timeout: float = 0.5) -> Any:
    """A Redis client for the limiter that fails fast: short timeouts and no retries with
    back-off (redis-py's default would hold a request up for seconds while Redis is down)."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                retry=Retry(NoBackoff(), 0))


class RedisAttemptLimiter:
    """The same sliding window, shared through Redis: the failed attempts of a key are the
    members of the sorted set ``<prefix><name>:<key>`` scored by time; a check trims what
    fell out of the window and counts the rest. The Redis key expires with the window, so
    a key that stops trying leaves nothing behind.

    ``clock`` is wall-clock time (the processes share the window, so a per-process
    monotonic clock would not do). After a Redis error it uses the in-memory fallback
    for ``retry_after`` seconds before trying Redis again, so a Redis that is down costs
    one timeout per ``retry_after``, not one per request."""

    def __init__(self, client: Any, *, limit: int = 10, window: float = 300.0, prefix: str = "courtyard:",
                 clock: Callable[[], float] = time.time, retry_after: float = 5.0,
                 fallback: AttemptLimiter | None = None, name: str = "join-attempts",
                 label: str = "join-attempt", logger: logging.Logger | None = None):
        self.client, self.limit, self.window, self.prefix, self.clock = client, limit, window, prefix, clock
        self.name, self.label, self.log = name, label, logger or log
        self.retry_after = retry_after
        self.fallback = fallback or AttemptLimiter(limit=limit, window=window, clock=clock)
        self._down_until = float("-inf")
        self._lock = threading.Lock()

    def _key(self, key: str) -> str:
        return f"{self.prefix}{self.name}:{key}"

    def _usable(self) -> bool:
        with self._lock:
            return self.clock() >= self._down_until

    def _failed_over(self, exc: BaseException) -> None:
        with self._lock:
            first = self._down_until == float("-inf") or self.clock() >= self._down_until
            self._down_until = self.clock() + self.retry_after
        if first:
            self.log.warning("%s limiter: Redis unavailable (%s: %s); counting in this process for %ss",
                             self.label, type(exc).__name__, exc, self.retry_after)

    def blocked(self, key: str) -> bool:
        return self.blocked_for(key) > 0

    def blocked_for(self, key: str) -> float:
        """Seconds until ``key`` may try again (0: it may now)."""
        if self._usable():
            try:
                rkey, now = self._key(key), self.clock()
                pipe = self.client.pipeline(transaction=True)
                pipe.zremrangebyscore(rkey, "-inf", now - self.window)
                pipe.zcard(rkey)
                # the oldest of the last ``limit`` failures: when it leaves, the key is free
                pipe.zrange(rkey, -self.limit, -self.limit, withscores=True)
                _, count, oldest = pipe.execute()
                if int(count) < self.limit or not oldest:
                    return 0.0
                return max(float(oldest[0][1]) + self.window - now, 1e-6)
            except Exception as exc:  # a Redis hiccup must not lock anyone out or fail the request
                self._failed_over(exc)
        return self.fallback.blocked_for(key)

    def failed(self, key: str) -> None:
        self.fallback.failed(key)
        if not self._usable():
            return
        try:
            rkey, now = self._key(key), self.clock()
            pipe = self.client.pipeline(transaction=True)
            pipe.zremrangebyscore(rkey, "-inf", now - self.window)
            pipe.zadd(rkey, {f"{now:.6f}:{uuid.uuid4().hex[:8]}": now})
            pipe.expire(rkey, max(1, math.ceil(self.window)))
            pipe.execute()
        except Exception as exc:
            self._failed_over(exc)

    def forget(self, key: str) -> None:
        self.fallback.forget(key)
        if not self._usable():
            return
        try:
            self.client.delete(self._key(key))
        except Exception as exc:
            self._failed_over(exc)

"""Sliding-window limiters for join-code attempts (per client address).

* :class:`AttemptLimiter` — in memory, per process: the single-process default.
* :class:`RedisAttemptLimiter` — one sorted set per address in Redis, so every process
  behind a load balancer counts against the same limit (used when
  ``COURTYARD_MESSAGE_QUEUE`` is a ``redis://`` URL). When Redis errors it logs and falls
  back to an in-memory limiter (which it keeps counting in all along), so a Redis hiccup
  neither locks residents out nor fails their join.

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


class AttemptLimiter:
    def __init__(self, limit: int = 10, window: float = 300.0, clock: Callable[[], float] = time.monotonic):
        self.limit, self.window, self.clock = limit, window, clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _trim(self, key: str) -> deque[float]:
        hits = self._hits.setdefault(key, deque())
        cutoff = self.clock() - self.window
        while hits and hits[0] <= cutoff:
            hits.popleft()
        return hits

    def blocked(self, key: str) -> bool:
        with self._lock:
            hits = self._trim(key)
            if not hits:
                self._hits.pop(key, None)
            return len(hits) >= self.limit

    def failed(self, key: str) -> None:
        with self._lock:
            self._trim(key).append(self.clock())
            if len(self._hits) > 100_000:  # bounded memory under a flood of addresses
                self._hits.clear()


def redis_client(url: str, *, timeout: float = 0.5) -> Any:
    """A Redis client for the limiter that fails fast: short timeouts and no retries with
    back-off (redis-py's default would hold a join up for seconds while Redis is down)."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                retry=Retry(NoBackoff(), 0))


class RedisAttemptLimiter:
    """The same sliding window, shared through Redis: the failed attempts of an address
    are the members of the sorted set ``<prefix>join-attempts:<address>`` scored by
    time; a check trims what fell out of the window and counts the rest. The key expires
    with the window, so an address that stops trying leaves nothing behind.

    ``clock`` is wall-clock time (the processes share the window, so a per-process
    monotonic clock would not do). After a Redis error it uses the in-memory fallback
    for ``retry_after`` seconds before trying Redis again, so a Redis that is down costs
    one timeout per ``retry_after``, not one per join."""

    def __init__(self, client: Any, *, limit: int = 10, window: float = 300.0, prefix: str = "courtyard:",
                 clock: Callable[[], float] = time.time, retry_after: float = 5.0,
                 fallback: AttemptLimiter | None = None):
        self.client, self.limit, self.window, self.prefix, self.clock = client, limit, window, prefix, clock
        self.retry_after = retry_after
        self.fallback = fallback or AttemptLimiter(limit=limit, window=window, clock=clock)
        self._down_until = float("-inf")
        self._lock = threading.Lock()

    def _key(self, address: str) -> str:
        return f"{self.prefix}join-attempts:{address}"

    def _usable(self) -> bool:
        with self._lock:
            return self.clock() >= self._down_until

    def _failed_over(self, exc: BaseException) -> None:
        with self._lock:
            first = self._down_until == float("-inf") or self.clock() >= self._down_until
            self._down_until = self.clock() + self.retry_after
        if first:
            log.warning("join-attempt limiter: Redis unavailable (%s: %s); counting in this process for %ss",
                        type(exc).__name__, exc, self.retry_after)

    def blocked(self, address: str) -> bool:
        if self._usable():
            try:
                key, now = self._key(address), self.clock()
                pipe = self.client.pipeline(transaction=True)
                pipe.zremrangebyscore(key, "-inf", now - self.window)
                pipe.zcard(key)
                _, count = pipe.execute()
                return int(count) >= self.limit
            except Exception as exc:  # a Redis hiccup must not lock anyone out or fail the join
                self._failed_over(exc)
        return self.fallback.blocked(address)

    def failed(self, address: str) -> None:
        self.fallback.failed(address)
        if not self._usable():
            return
        try:
            key, now = self._key(address), self.clock()
            pipe = self.client.pipeline(transaction=True)
            pipe.zremrangebyscore(key, "-inf", now - self.window)
            pipe.zadd(key, {f"{now:.6f}:{uuid.uuid4().hex[:8]}": now})
            pipe.expire(key, max(1, math.ceil(self.window)))
            pipe.execute()
        except Exception as exc:
            self._failed_over(exc)

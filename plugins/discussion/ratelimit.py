"""A small sliding-window limiter for join-code attempts (per client address).

Per process; the window is short and the code space large (31^8), so an attacker who
spreads over several processes still gets nowhere. The clock is injected for tests.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Callable


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

"""Sliding-window limiters for join-code attempts (per client address).

The limiters themselves are shared with password sign-ins and live in
:mod:`core.ratelimit`; this module keeps the names the plugin has always used
(keys ``<prefix>join-attempts:<address>``, warnings on the ``courtyard.live`` logger).
"""

from __future__ import annotations

from core.ratelimit import AttemptLimiter, RedisAttemptLimiter, redis_client

__all__ = ["AttemptLimiter", "RedisAttemptLimiter", "redis_client"]

"""The shared attempt limiters say how long a key stays blocked (the Retry-After a
refused sign-in is given), in memory and through Redis, on an injected clock."""

from __future__ import annotations

import uuid

import pytest

from core.ratelimit import AttemptLimiter, RedisAttemptLimiter, redis_client


class Seconds:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "redis"])
def limiter(request):
    clock = Seconds()
    if request.param == "memory":
        return AttemptLimiter(limit=3, window=60, clock=clock), clock
    url = request.getfixturevalue("redis_url")
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    return RedisAttemptLimiter(redis_client(url), limit=3, window=60, clock=clock, prefix=prefix,
                               name="sign-in:account"), clock


def test_blocked_for_counts_down_to_when_the_oldest_counted_failure_leaves(limiter):
    lim, clock = limiter
    for i in range(3):  # failures at +0, +10, +20 s
        clock.now += 10 if i else 0
        assert lim.blocked_for("k") == 0
        lim.failed("k")
    assert lim.blocked_for("k") == pytest.approx(40)  # the first failure leaves the window at +60
    clock.now += 39
    assert lim.blocked("k")
    clock.now += 1.5
    assert lim.blocked_for("k") == 0
    assert lim.blocked_for("other") == 0


def test_forget_clears_a_key(limiter):
    lim, clock = limiter
    for _ in range(3):
        lim.failed("k")
    assert lim.blocked("k")
    lim.forget("k")
    assert not lim.blocked("k")


def test_a_flood_of_new_keys_neither_grows_memory_nor_frees_a_blocked_account():
    """An attacker with many addresses tries many user names: memory stays bounded, and
    the account being guessed at stays blocked (before: at 100,001 keys every counter was
    wiped, the guessed account with them)."""
    cap = 100_000  # core.ratelimit.MAX_KEYS
    now = [0.0]
    limiter = AttemptLimiter(limit=5, window=300.0, clock=lambda: now[0])
    for _ in range(5):
        limiter.failed("chenguiying")
    assert limiter.blocked("chenguiying")
    for i in range(cap + 10):
        limiter.failed(f"guess-{i}")
        now[0] += 0.001
    assert limiter.blocked("chenguiying")
    assert len(limiter._hits) <= cap
    now[0] += 301
    assert not limiter.blocked("chenguiying")

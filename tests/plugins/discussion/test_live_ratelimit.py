"""Join-code attempt limits shared by every process through Redis, and what happens when
Redis is not there: nobody is locked out, nothing fails, and each process still limits."""

from __future__ import annotations

import logging
import time
import uuid

import pytest
import redis

from plugins.discussion.ratelimit import AttemptLimiter, RedisAttemptLimiter, redis_client
from plugins.discussion.state import limiter_for
from tests.conftest import make_app
from tests.plugins.discussion.live_server import free_port


class Seconds:
    def __init__(self, t: float = 1_800_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def prefix(redis_url):
    """A key prefix of the test's own; its keys are deleted afterwards."""
    p = f"test-{uuid.uuid4().hex}:"
    yield p
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(f"{p}*"):
        client.delete(key)
    client.close()


@pytest.mark.redis
def test_processes_share_one_sliding_window(redis_url, prefix):
    clock = Seconds()
    a_client, b_client = redis.Redis.from_url(redis_url), redis.Redis.from_url(redis_url)
    a = RedisAttemptLimiter(a_client, limit=4, window=60, prefix=prefix, clock=clock)
    b = RedisAttemptLimiter(b_client, limit=4, window=60, prefix=prefix, clock=clock)
    for limiter in (a, b, a):
        limiter.failed("10.0.0.7")
        clock.t += 10
    assert not a.blocked("10.0.0.7") and not b.blocked("10.0.0.7")  # three failures so far
    b.failed("10.0.0.7")  # the fourth, on the other process
    assert a.blocked("10.0.0.7") and b.blocked("10.0.0.7")
    assert not a.blocked("10.0.0.8")  # another address is not affected
    clock.t += 31  # the first failure (t=0) falls out of the 60 s window
    assert not a.blocked("10.0.0.7") and not b.blocked("10.0.0.7")
    b.failed("10.0.0.7")
    assert a.blocked("10.0.0.7")
    ttl = a_client.ttl(f"{prefix}join-attempts:10.0.0.7")
    assert 0 < ttl <= 60  # an address that stops trying leaves nothing behind for long
    clock.t += 60
    assert not b.blocked("10.0.0.7")
    assert not a_client.exists(f"{prefix}join-attempts:10.0.0.7")
    a_client.close()
    b_client.close()


def test_a_redis_that_is_down_locks_nobody_out_and_still_limits(caplog):
    clock = Seconds()
    dead = redis_client(f"redis://127.0.0.1:{free_port()}/0")  # as the app makes it, at an address nobody serves
    limiter = RedisAttemptLimiter(dead, limit=3, window=60, prefix="x:", clock=clock, retry_after=5)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="courtyard.live"):
        assert limiter.blocked("10.0.0.9") is False  # no error, nobody locked out
    assert time.monotonic() - started < 1.5  # and the join is not held up for long
    assert "Redis unavailable" in caplog.text
    for _ in range(3):
        limiter.failed("10.0.0.9")
    assert limiter.blocked("10.0.0.9") is True  # counted in this process meanwhile
    assert limiter.blocked("10.0.0.10") is False
    assert caplog.text.count("Redis unavailable") == 1  # logged once per outage, not per attempt
    dead.close()


@pytest.mark.redis
def test_after_an_outage_redis_is_used_again(redis_url, prefix):
    clock = Seconds()
    client = redis.Redis.from_url(redis_url)
    limiter = RedisAttemptLimiter(client, limit=2, window=60, prefix=prefix, clock=clock, retry_after=5)
    other = RedisAttemptLimiter(redis.Redis.from_url(redis_url), limit=2, window=60, prefix=prefix, clock=clock)
    limiter._failed_over(redis.ConnectionError("blip"))
    limiter.failed("10.0.0.11")  # during the outage: counted in memory only
    assert not other.blocked("10.0.0.11")
    clock.t += 6  # past retry_after: back to Redis
    limiter.failed("10.0.0.11")
    other.failed("10.0.0.11")
    assert limiter.blocked("10.0.0.11") and other.blocked("10.0.0.11")
    client.close()
    other.client.close()


@pytest.mark.redis
def test_two_app_processes_share_the_limit_over_http_and_socket(live, tmp_path, live_clock, redis_url, prefix):
    clock = Seconds()
    config = dict(DISCUSSION_CLOCK=live_clock, DISCUSSION_JOIN_ATTEMPTS=3, DISCUSSION_JOIN_REDIS=redis_url,
                  DISCUSSION_JOIN_REDIS_PREFIX=prefix, DISCUSSION_JOIN_CLOCK=clock)
    a = live.on(make_app(tmp_path, **config))
    b = live.on(make_app(tmp_path, **config))
    assert isinstance(limiter_for(a.app), RedisAttemptLimiter)
    http_a = a.app.test_client()
    for code in ("AAAAAAAA", "BBBBBBBB"):
        assert http_a.get(f"/j/{code}").status_code == 404
    guesser_b = b.client(None)
    assert guesser_b.emit("join", {"code": "CCCCCCCC"})["error"]["status"] == 404  # the third, on B
    # the right code no longer helps, on either process
    assert a.app.test_client().get(f"/j/{live.code}").status_code == 429
    blocked = b.client(None).emit("join", {"code": live.code, "guest_name": "猜码的人"})
    assert blocked["ok"] is False and blocked["error"]["status"] == 429
    clock.t += 301
    assert b.client(None).join(live.code, guest_name="等够了的人")["ok"]


def test_the_single_process_default_stays_in_memory(live):
    assert type(limiter_for(live.app)) is AttemptLimiter

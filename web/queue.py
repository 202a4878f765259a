"""The Socket.IO message queue over Redis, made to ride out a Redis outage.

python-socketio's ``RedisManager`` shares rooms between server processes through a Redis
channel, but when Redis goes away its listener waits 1, 2, 4 … up to 60 seconds between
attempts to subscribe again, so broadcasts between processes could stay off for up to a
minute after Redis is back; and each publish went through the Redis client's own retries
with back-off, holding up the acknowledgement of the vote or message that triggered it.

:class:`ResilientRedisManager` changes only that:

* the listener tries again every ``retry_max`` seconds at most (0.1 s, doubling, capped
  at 1 s), so broadcasts between processes resume within about a second of Redis coming
  back;
* a publish is tried twice (the second time on a fresh connection, for the stale one a
  restart of Redis leaves behind), with short timeouts, and a failure is logged — once
  per outage, with the count of lost broadcasts when it ends — never raised into the
  handler that broadcast: the vote or message is already committed and its
  acknowledgement goes out.

A broadcast published while Redis is down does not reach the clients connected to other
processes (Redis pub/sub keeps nothing); the clients of the process that published it get
it as usual. Every change is stored with its ``seq`` first, so a client that sees a gap
(the next event it receives) or reconnects fetches what it missed (``docs/realtime.md``).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Iterator

import socketio

from web.fanout import FanoutManager

log = logging.getLogger("courtyard.queue")


def redacted(url: str) -> str:
    """The queue's URL without its password, for the log."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[-1]}"))


class ResilientRedisManager(socketio.RedisManager, FanoutManager):
    """A ``RedisManager`` whose listener retries at most every ``retry_max`` seconds and
    whose publishes fail fast, logged, never raised. What it receives from Redis for this
    process's clients is delivered by :class:`web.fanout.FanoutManager` (framed once)."""

    name = "redis"

    def __init__(self, url: str, channel: str = "flask-socketio", write_only: bool = False, logger: Any = None,
                 json: Any = None, *, retry_max: float = 1.0, timeout: float = 2.0,
                 redis_options: dict[str, Any] | None = None) -> None:
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # (no socket_keepalive: unix:// connections refuse it; the health check finds a dead link)
        options = {"socket_connect_timeout": timeout, "socket_timeout": timeout, "health_check_interval": 15,
                   "retry": Retry(NoBackoff(), 0)}
        options.update(redis_options or {})
        super().__init__(url, channel=channel, write_only=write_only, logger=logger, json=json,
                         redis_options=options)
        self.retry_max = retry_max
        self._publisher: Any = None
        self._publisher_lock = threading.Lock()
        self._publish_down_since: float | None = None
        self._publish_lost = 0
        self._state_lock = threading.Lock()

    def _client(self) -> Any:
        return self._get_redis_module().Redis.from_url(self.redis_url, **self.redis_options)

    # -- publishing ---------------------------------------------------------

    def _publish(self, data: Any) -> Any:
        message = self.json.dumps(data)
        error: Exception | None = None
        for _attempt in range(2):  # the second try takes a fresh connection
            try:
                with self._publisher_lock:
                    if self._publisher is None:
                        self._publisher = self._client()
                    publisher = self._publisher
                result = publisher.publish(self.channel, message)
            except Exception as exc:  # Redis is down or restarting: never into the handler
                error = exc
                continue
            self._publish_ok()
            return result
        self._publish_failed(error)
        return None

    def _publish_ok(self) -> None:
        with self._state_lock:
            if self._publish_down_since is None:
                return
            down, lost = time.monotonic() - self._publish_down_since, self._publish_lost
            self._publish_down_since, self._publish_lost = None, 0
        log.warning("publishing to Redis again after %.1fs; %d broadcasts did not reach the other processes "
                    "(their clients fetch them by seq)", down, lost)

    def _publish_failed(self, error: Exception | None) -> None:
        with self._state_lock:
            first = self._publish_down_since is None
            if first:
                self._publish_down_since = time.monotonic()
            self._publish_lost += 1
        if first:
            log.error("cannot publish to Redis at %s (%s: %s); broadcasts reach this process's clients only "
                      "until it is back", redacted(self.redis_url), type(error).__name__, error)

    # -- listening ----------------------------------------------------------

    def _listen(self) -> Iterator[Any]:
        channel = self.channel.encode("utf-8")
        delay = 0.1
        down_since: float | None = None
        while True:
            client = pubsub = None
            try:
                client = self._client()
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self.channel)
                if down_since is not None:
                    log.warning("receiving from Redis again after %.1fs", time.monotonic() - down_since)
                    down_since = None
                delay = 0.1
                while True:
                    message = pubsub.get_message(timeout=1.0)
                    if (message and message.get("type") == "message" and message.get("channel") == channel
                            and "data" in message):
                        yield message["data"]
            except Exception as exc:
                if down_since is None:
                    down_since = time.monotonic()
                    log.error("cannot receive from Redis at %s (%s: %s); trying again every %gs at most",
                              redacted(self.redis_url), type(exc).__name__, exc, self.retry_max)
            finally:
                for thing in (pubsub, client):
                    try:
                        if thing is not None:
                            thing.close()
                    except Exception:
                        pass
            time.sleep(delay)
            delay = min(delay * 2, self.retry_max)

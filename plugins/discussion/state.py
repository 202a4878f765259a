"""Per-application helpers of the discussion plugin: the join-code attempt limiter and
the clock (tests inject ``DISCUSSION_CLOCK``; a callable returning an aware datetime)."""

from __future__ import annotations

from typing import Any, Callable

from core.db import utcnow
from plugins.discussion.ratelimit import AttemptLimiter


def limiter_for(app: Any) -> AttemptLimiter:
    ext = app.extensions.setdefault("plugin_discussion", {})
    if "limiter" not in ext:
        ext["limiter"] = AttemptLimiter(limit=int(app.config.get("DISCUSSION_JOIN_ATTEMPTS", 10)),
                                        window=float(app.config.get("DISCUSSION_JOIN_WINDOW", 300)))
    return ext["limiter"]


def clock_for(app: Any) -> Callable[[], Any]:
    return app.config.get("DISCUSSION_CLOCK") or utcnow

"""Flask extensions and the per-application Courtyard state."""

from __future__ import annotations

import logging
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import pluggy
from flask import Flask, has_app_context, request
from flask_babel import Babel
from flask_login import LoginManager
from flask_socketio import SocketIO
from flask_wtf import CSRFProtect
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from core import events
from core.catalog import Catalog
from core.db import session_scope
from core.plugins import FailureTracker, notify
from core.services import plugins as plugin_settings

log = logging.getLogger("courtyard.web")

babel = Babel()
csrf = CSRFProtect()
login_manager = LoginManager()


@dataclass
class Courtyard:
    """What one application instance holds: its database, plugins and their contributions."""

    app: Flask
    engine: Engine
    sessionmaker: sessionmaker[Session]
    pm: pluggy.PluginManager
    catalog: Catalog
    failures: FailureTracker = field(default_factory=FailureTracker)
    socketio: Any = None
    #: blueprint name → the plugin that contributed it (routes gated per community)
    blueprint_owners: dict[str, str] = field(default_factory=dict)
    #: gettext domain → flask_babel.Domain, from ``courtyard_register_translations``
    translation_domains: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        events.install(self.sessionmaker, self.dispatch)

    def dispatch(self, hook_name: str, community_id: int | None, kwargs: dict[str, Any]) -> None:
        """Call a notification hook after commit; a failing plugin is counted and, after
        repeated failures, blocked in that community with a notice to its admins.

        Each community plugin's implementation gets ``PLUGIN_HOOK_TIMEOUT`` seconds
        (default 5; ``None`` calls it inline; built-ins are always called inline): one
        that hangs is logged and counted as a failure, and the request or live event
        that triggered it goes on."""
        with session_scope(self.sessionmaker) as db:
            enabled = plugin_settings.enabled_checker(db, community_id, self.pm)

        def on_failure(plugin: str, exc: BaseException) -> None:
            if community_id is not None and self.failures.failed(plugin, community_id):
                self.block_plugin(community_id, plugin, f"{type(exc).__name__}: {exc}")
                self.failures.succeeded(plugin, community_id)  # a re-enabled plugin starts afresh

        timeout = self.app.config.get("PLUGIN_HOOK_TIMEOUT", 5.0)
        with nullcontext() if has_app_context() else self.app.app_context():
            failed = notify(self.pm, hook_name, enabled=enabled, on_failure=on_failure, timeout=timeout,
                            trusted=getattr(self.pm, "is_builtin", lambda name: False), **kwargs)
        for name in {i.plugin_name for i in getattr(self.pm.hook, hook_name).get_hookimpls()} - set(failed):
            self.failures.succeeded(name, community_id)

    def block_plugin(self, community_id: int, plugin: str, reason: str) -> None:
        from core.i18n import N_
        from core.models import Member
        from core.models.member import Role
        from core.services.notifications import notify as notify_members
        from sqlalchemy import select
        from core.models import RoleAssignment

        log.error("blocking plugin %s in community %s after repeated failures: %s", plugin, community_id, reason)
        with session_scope(self.sessionmaker) as db:
            plugin_settings.block(db, community_id=community_id, name=plugin, reason=reason)
            admins = db.scalars(select(Member).join(RoleAssignment).where(
                Member.community_id == community_id, RoleAssignment.role == Role.ADMIN.value))
            rows = notify_members(db, recipients=list(admins), kind="plugin_blocked",
                                  message=N_("The plugin %(plugin)s failed repeatedly and was turned off."),
                                  params={"plugin": plugin})
            # the blocked plugin is not told about its own blocking
            db.info.pop("courtyard_events", None)
            del rows


def make_socketio(app: Flask) -> SocketIO:
    """A Socket.IO server for this app. Origins: the server's own (the default) plus
    ``COURTYARD_ALLOWED_ORIGINS``; never ``*``. With ``COURTYARD_MESSAGE_QUEUE`` the
    processes share rooms through Redis with :class:`web.queue.ResilientRedisManager`:
    after a Redis outage broadcasts resume within about a second, and a broadcast that
    cannot be published is logged, never raised into the handler (``docs/operations.md``).
    Broadcasts are framed once and written straight to idle websockets (:mod:`web.fanout`)."""
    allowed = app.config["ALLOWED_ORIGINS"] or None
    queue_url = app.config["MESSAGE_QUEUE"]
    from web import fanout

    options: dict[str, Any] = {"client_manager": fanout.FanoutManager()}
    if queue_url:
        from web.queue import ResilientRedisManager

        options["client_manager"] = ResilientRedisManager(queue_url, channel=app.config.get("MESSAGE_QUEUE_CHANNEL") or "courtyard")
    socketio = SocketIO(
        app,
        async_mode=app.config["ASYNC_MODE"],
        message_queue=queue_url,
        **options,
        cors_allowed_origins=allowed,
        ping_interval=10,
        ping_timeout=20,
        max_http_buffer_size=64 * 1024,
        json=fanout.WireJson,  # Chinese text as UTF-8 on the wire, not \uXXXX escapes
    )
    fanout.install(socketio)  # a broadcast is framed once and written straight to idle websockets
    app.extensions["courtyard"].socketio = socketio
    return socketio


def current_courtyard() -> Courtyard:
    from flask import current_app

    return current_app.extensions["courtyard"]


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.is_json

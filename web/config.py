"""Configuration from environment variables (and an optional mapping, for tests)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any, Mapping

ROOT = Path(__file__).resolve().parent.parent

ASYNC_MODES = ("threading", "gevent")


class ConfigError(ValueError):
    """A setting is wrong; the message says which and how to fix it."""


def instance_path() -> Path:
    """Where the generated secret key and the default SQLite database live
    (``COURTYARD_INSTANCE_PATH``, read when asked)."""
    return Path(os.environ.get("COURTYARD_INSTANCE_PATH", ROOT / "instance"))


def _secret_key() -> str:
    key = os.environ.get("COURTYARD_SECRET_KEY")
    if key:
        return key
    # a per-instance key kept on disk so sign-ins survive a restart of the demo
    instance = instance_path()
    path = instance / "secret_key"
    try:
        instance.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"COURTYARD_INSTANCE_PATH {instance} is not writable ({exc.strerror}); make it writable "
                          "by this user, point COURTYARD_INSTANCE_PATH elsewhere, or set COURTYARD_SECRET_KEY") from exc


def load_config(overrides: Mapping[str, Any] | None = None, *, check: bool = True) -> dict[str, Any]:
    """The settings. ``check=False`` returns them even when wrong (``SECRET_KEY`` ``None``
    if it cannot be made), for ``courtyard serve`` to list every problem at once."""
    overrides = dict(overrides or {})
    env = os.environ
    config: dict[str, Any] = {
        "DATABASE_URL": env.get("COURTYARD_DATABASE_URL", f"sqlite:///{instance_path() / 'courtyard.db'}"),
        "MESSAGE_QUEUE": env.get("COURTYARD_MESSAGE_QUEUE") or None,
        # the Redis pub/sub channel: Socket.IO's channel ignores the database index, so two
        # installations sharing one Redis need different channels or hear each other
        "MESSAGE_QUEUE_CHANNEL": env.get("COURTYARD_MESSAGE_QUEUE_CHANNEL") or "courtyard",
        # live rooms: how often a process beats, and when a silent one's connections are
        # swept (seconds; checked and defaulted by the discussion plugin, docs/realtime.md)
        "DISCUSSION_HEARTBEAT": env.get("COURTYARD_LIVE_HEARTBEAT") or None,
        "DISCUSSION_PROCESS_TIMEOUT": env.get("COURTYARD_LIVE_PROCESS_TIMEOUT") or None,
        "ASYNC_MODE": env.get("COURTYARD_ASYNC_MODE", "threading"),
        # origins allowed to open a live connection besides the server's own
        "ALLOWED_ORIGINS": [o for o in env.get("COURTYARD_ALLOWED_ORIGINS", "").split(",") if o],
        "PUBLIC_URL": env.get("COURTYARD_PUBLIC_URL", ""),
        "PLUGIN_ENTRYPOINTS": env.get("COURTYARD_PLUGIN_ENTRYPOINTS", "1") != "0",
        "BLOCKED_PLUGINS": [p for p in env.get("COURTYARD_BLOCKED_PLUGINS", "").split(",") if p],
        "MAX_CONTENT_LENGTH": 8 * 1024 * 1024,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "BABEL_DEFAULT_LOCALE": "zh_CN",
        "BABEL_DEFAULT_TIMEZONE": "Asia/Shanghai",
        "WTF_CSRF_TIME_LIMIT": None,
        "WTF_CSRF_CHECK_DEFAULT": False,  # checked in a before_request, bearer-token API calls excepted
        "JSON_AS_ASCII": False,
    }
    config.update(overrides)
    if "SECRET_KEY" not in config:
        try:
            config["SECRET_KEY"] = _secret_key()
        except ConfigError:
            if check:
                raise
            config["SECRET_KEY"] = None
    if check:
        validate(config)
    return config


DATABASE_HINT = "use sqlite:///PATH (one process) or postgresql+psycopg://USER:PASSWORD@HOST/DB"


def problems(config: Mapping[str, Any]) -> list[str]:
    """Every setting that is wrong, one line each, saying what to do."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    found = []
    url = str(config["DATABASE_URL"])
    try:
        backend = make_url(url).get_backend_name()
    except (ArgumentError, ValueError):
        found.append(f"COURTYARD_DATABASE_URL is not a database URL ({DATABASE_HINT})")
    else:
        if backend == "postgres":
            found.append("COURTYARD_DATABASE_URL starts with postgres://, which SQLAlchemy does not accept: "
                         "write postgresql+psycopg://")
        elif backend not in ("sqlite", "postgresql"):
            found.append(f"COURTYARD_DATABASE_URL names a {backend} database; Courtyard runs on SQLite and "
                         f"PostgreSQL ({DATABASE_HINT})")
    if config["ASYNC_MODE"] not in ASYNC_MODES:
        found.append(f"COURTYARD_ASYNC_MODE must be one of {', '.join(ASYNC_MODES)}, not {config['ASYNC_MODE']!r}")
    queue = config.get("MESSAGE_QUEUE")
    if queue and not str(queue).startswith(("redis://", "rediss://", "unix://")):
        found.append(f"COURTYARD_MESSAGE_QUEUE must be a redis://HOST:PORT/DB URL, not {str(queue).split(':')[0]}:...")
    return found


def validate(config: Mapping[str, Any]) -> None:
    """Refuse a bad setting at start with a message that says what to do."""
    found = problems(config)
    if found:
        raise ConfigError("\n".join(found))

"""Configuration from environment variables (and an optional mapping, for tests)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any, Mapping

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = Path(os.environ.get("COURTYARD_INSTANCE_PATH", ROOT / "instance"))

ASYNC_MODES = ("threading", "gevent")


class ConfigError(ValueError):
    """A setting is wrong; the message says which and how to fix it."""


def _secret_key() -> str:
    key = os.environ.get("COURTYARD_SECRET_KEY")
    if key:
        return key
    # a per-instance key kept on disk so sign-ins survive a restart of the demo
    INSTANCE.mkdir(parents=True, exist_ok=True)
    path = INSTANCE / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def load_config(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    overrides = dict(overrides or {})
    env = os.environ
    config: dict[str, Any] = {
        "DATABASE_URL": env.get("COURTYARD_DATABASE_URL", f"sqlite:///{INSTANCE / 'courtyard.db'}"),
        "MESSAGE_QUEUE": env.get("COURTYARD_MESSAGE_QUEUE") or None,
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
        config["SECRET_KEY"] = _secret_key()
    validate(config)
    return config


def validate(config: Mapping[str, Any]) -> None:
    """Refuse a bad setting at start with a message that says what to do."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        make_url(config["DATABASE_URL"])
    except ArgumentError as exc:
        raise ConfigError(f"COURTYARD_DATABASE_URL is not a database URL: {config['DATABASE_URL']!r}") from exc
    if config["ASYNC_MODE"] not in ASYNC_MODES:
        raise ConfigError(f"COURTYARD_ASYNC_MODE must be one of {', '.join(ASYNC_MODES)}, not {config['ASYNC_MODE']!r}")
    queue = config.get("MESSAGE_QUEUE")
    if queue and not str(queue).startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"COURTYARD_MESSAGE_QUEUE must be a redis:// URL, not {queue!r}")

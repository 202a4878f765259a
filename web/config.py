"""Configuration from environment variables (and an optional mapping, for tests)."""

from __future__ import annotations

import math
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

ROOT = Path(__file__).resolve().parent.parent

ASYNC_MODES = ("threading", "gevent")


class ConfigError(ValueError):
    """A setting is wrong; the message says which and how to fix it."""


# --------------------------------------------------------------------------- numbers and switches


def _whole(raw: Any) -> int:
    if isinstance(raw, bool):
        raise ValueError(raw)
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    if isinstance(raw, str) and raw.strip().lstrip("+-").isdigit():
        return int(raw.strip())
    raise ValueError(raw)


def _number(raw: Any) -> float:
    if isinstance(raw, bool):
        raise ValueError(raw)
    value = float(raw)  # ValueError/TypeError for anything else
    if not math.isfinite(value):
        raise ValueError(raw)
    return value


_SWITCH = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def _switch(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in _SWITCH:
        return _SWITCH[raw.strip().lower()]
    raise ValueError(raw)


@dataclass(frozen=True)
class Setting:
    """A number or a switch read from ``env`` into ``key``; ``problems()`` refuses a value
    that ``parse`` rejects or that is under ``least`` (or at it, when ``above``)."""

    env: str
    key: str
    parse: Callable[[Any], Any]
    expect: str  # the end of "COURTYARD_X must be ...", for the error line
    least: float | None = None
    above: bool = False

    def check(self, raw: Any) -> Any:
        """The value, or ``ValueError`` when it is not what the setting takes."""
        try:
            value = self.parse(raw)
        except (TypeError, ValueError):
            raise ValueError(raw) from None
        if self.least is not None and (value < self.least or (self.above and value == self.least)):
            raise ValueError(raw)
        return value


SETTINGS = (
    # the database pool (PostgreSQL, and a SQLite file; docs/operations.md "Database connections")
    Setting("COURTYARD_DB_POOL_SIZE", "DB_POOL_SIZE", _whole, "a whole number of connections, 1 or more", 1),
    Setting("COURTYARD_DB_MAX_OVERFLOW", "DB_MAX_OVERFLOW", _whole,
            "a whole number of connections, 0 or more", 0),
    Setting("COURTYARD_DB_POOL_TIMEOUT", "DB_POOL_TIMEOUT", _number, "a number of seconds above 0", 0, above=True),
    # libpq's minimum is 2 s (a smaller one would silently become 2)
    Setting("COURTYARD_DB_CONNECT_TIMEOUT", "DB_CONNECT_TIMEOUT", _whole, "a whole number of seconds, 2 or more", 2),
    # the voting plugin (docs/voting.md "Settings"); the plugin reads the app config keys
    Setting("COURTYARD_VOTING_BATCH_MAX", "VOTING_BATCH_MAX", _whole, "a whole number of votes, 1 or more", 1),
    Setting("COURTYARD_VOTING_MIX_MIN", "VOTING_MIX_MIN", _whole, "a whole number of ballots, 1 or more", 1),
    Setting("COURTYARD_VOTING_ACK_TIMEOUT", "VOTING_ACK_TIMEOUT", _number, "a number of seconds above 0", 0,
            above=True),
    Setting("COURTYARD_VOTING_WRITER_IDLE", "VOTING_WRITER_IDLE", _number, "a number of seconds above 0", 0,
            above=True),
    Setting("COURTYARD_VOTING_TALLY_HZ", "VOTING_TALLY_HZ", _number, "a number of times a second above 0", 0,
            above=True),
    Setting("COURTYARD_VOTING_MOTION_CACHE_SECONDS", "VOTING_MOTION_CACHE_SECONDS", _number,
            "a number of seconds, 0 (no cache) or more", 0),
    Setting("COURTYARD_VOTING_GROUP_COMMIT", "VOTING_GROUP_COMMIT", _switch, "1 or 0 (also true/false, yes/no, on/off)"),
    # the server process's garbage collector (docs/operations.md "Garbage collection")
    Setting("COURTYARD_GC_THRESHOLD", "GC_THRESHOLD", _whole,
            "a whole number of new objects between collections, 0 (Python's own) or more", 0),
    # the live discussion plugin (docs/realtime.md "Presence and attendance")
    Setting("COURTYARD_LIVE_PRESENCE_INTERVAL", "DISCUSSION_PRESENCE_INTERVAL", _number,
            "a number of seconds, 0 (announce every change at once) or more", 0),
    # the proxies in front (nginx: 1) whose X-Forwarded-For/-Proto are trusted
    # (docs/operations.md "Behind a proxy")
    Setting("COURTYARD_PROXY_HOPS", "PROXY_HOPS", _whole,
            "a whole number of proxies in front of Courtyard, 0 (none) or more", 0),
    # sign-in cookies (docs/operations.md "Headers and cookies")
    Setting("COURTYARD_REMEMBER_DAYS", "REMEMBER_DAYS", _whole,
            "a whole number of days a device stays signed in, 1 or more", 1),
    Setting("COURTYARD_SECURE_COOKIES", "SECURE_COOKIES", _switch, "1 or 0 (also true/false, yes/no, on/off)"),
)

DB_CONNECT_TIMEOUT = 5  # seconds, when COURTYARD_DB_CONNECT_TIMEOUT is not set
REMEMBER_DAYS = 30  # how long "stay signed in" lasts on a device, when COURTYARD_REMEMBER_DAYS is not set
GC_THRESHOLD = 20000  # new objects between two collections of the youngest generation (Python's: 700)


def _read_settings(env: Mapping[str, str]) -> dict[str, Any]:
    """The :data:`SETTINGS` that are set (an empty variable counts as unset), as text;
    ``load_config`` parses them. An unset one is left out, so whoever reads the key keeps
    its own default."""
    return {setting.key: env[setting.env].strip() for setting in SETTINGS if env.get(setting.env, "").strip()}


def engine_options(config: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments for :func:`core.db.make_engine` from the settings (only those set;
    ``make_engine`` leaves out what does not apply to the database)."""
    names = {"DB_POOL_SIZE": "pool_size", "DB_MAX_OVERFLOW": "max_overflow", "DB_POOL_TIMEOUT": "pool_timeout",
             "DB_CONNECT_TIMEOUT": "connect_timeout"}
    return {arg: config[key] for key, arg in names.items() if config.get(key) is not None}


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
        # hosts besides the public URL's (and loopback) a request may name (web/public_url.py)
        "TRUSTED_HOSTS_EXTRA": env.get("COURTYARD_TRUSTED_HOSTS", ""),
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
        "DB_CONNECT_TIMEOUT": DB_CONNECT_TIMEOUT,
        "PROXY_HOPS": 0,
        "REMEMBER_DAYS": REMEMBER_DAYS,
        "SECURE_COOKIES": False,
    }
    # pool sizes, timeouts, the voting plugin's settings (see SETTINGS)
    config.update(_read_settings(env))
    config.update(overrides)
    for setting in SETTINGS:  # "7" given as an override becomes 7, as from the environment
        if config.get(setting.key) is not None:
            try:
                config[setting.key] = setting.check(config[setting.key])
            except ValueError:
                pass  # kept as given, for problems() to name
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
    from web.public_url import problems as public_url_problems

    found += public_url_problems(config)
    if config["ASYNC_MODE"] not in ASYNC_MODES:
        found.append(f"COURTYARD_ASYNC_MODE must be one of {', '.join(ASYNC_MODES)}, not {config['ASYNC_MODE']!r}")
    queue = config.get("MESSAGE_QUEUE")
    if queue and not str(queue).startswith(("redis://", "rediss://", "unix://")):
        found.append(f"COURTYARD_MESSAGE_QUEUE must be a redis://HOST:PORT/DB URL, not {str(queue).split(':')[0]}:...")
    for setting in SETTINGS:
        value = config.get(setting.key)
        if value is None:
            continue
        try:
            setting.check(value)
        except ValueError:
            found.append(f"{setting.env} must be {setting.expect}, not {str(value)[:40]!r}")
    return found


def validate(config: Mapping[str, Any]) -> None:
    """Refuse a bad setting at start with a message that says what to do."""
    found = problems(config)
    if found:
        raise ConfigError("\n".join(found))

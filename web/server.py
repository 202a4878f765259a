"""A production server for Courtyard: gunicorn, with the worker that matches the async mode.

* threading (the default): gunicorn's ``gthread`` worker; each live connection holds a thread.
* gevent: gunicorn's ``gevent`` worker, for thousands of live connections per process.

Several processes share Socket.IO rooms through Redis (``COURTYARD_MESSAGE_QUEUE``).
Settings are checked before the first worker starts, with messages that say what to fix.
"""

from __future__ import annotations

from typing import Any

from web.config import ConfigError, load_config


def check_services(config: dict[str, Any]) -> None:
    """Fail fast on an unreachable database or Redis."""
    from sqlalchemy import text

    from core.db import make_engine

    engine = make_engine(config["DATABASE_URL"])
    try:
        with engine.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:
        raise ConfigError(f"cannot reach the database ({type(exc).__name__}: {exc}); "
                          "check COURTYARD_DATABASE_URL") from exc
    finally:
        engine.dispose()
    queue = config.get("MESSAGE_QUEUE")
    if queue:
        import redis

        try:
            redis.Redis.from_url(queue, socket_connect_timeout=3).ping()
        except Exception as exc:
            raise ConfigError(f"cannot reach Redis at {queue} ({type(exc).__name__}); "
                              "check COURTYARD_MESSAGE_QUEUE") from exc


def gunicorn_options(*, host: str, port: int, workers: int, threads: int, async_mode: str) -> dict[str, Any]:
    options: dict[str, Any] = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "timeout": 60,
        "graceful_timeout": 10,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "info",
    }
    if async_mode == "gevent":
        options["worker_class"] = "gevent"
        options["worker_connections"] = 10000
    else:
        options["worker_class"] = "gthread"
        options["threads"] = threads
    return options


def run_server(*, host: str, port: int, workers: int = 1, threads: int = 200) -> None:
    from gunicorn.app.base import BaseApplication

    config = load_config()
    if workers > 1 and not config["MESSAGE_QUEUE"]:
        raise ConfigError("--workers above 1 needs COURTYARD_MESSAGE_QUEUE=redis://... so processes share rooms")
    check_services(config)
    options = gunicorn_options(host=host, port=port, workers=workers, threads=threads, async_mode=config["ASYNC_MODE"])

    class CourtyardServer(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self):
            from web import create_app

            return create_app()

    print(f"Courtyard serving on http://{host}:{port} ({config['ASYNC_MODE']}, {workers} process(es))", flush=True)
    CourtyardServer().run()

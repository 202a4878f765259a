"""One database session per request (``get_db()``); the view commits."""

from __future__ import annotations

from flask import Flask, g
from sqlalchemy.orm import Session

from web.extensions import current_courtyard


def get_db() -> Session:
    if "db" not in g:
        g.db = current_courtyard().sessionmaker()
    return g.db


def commit() -> None:
    get_db().commit()


def init_app(app: Flask) -> None:
    @app.teardown_appcontext
    def _close(exc: BaseException | None) -> None:
        db = g.pop("db", None)
        if db is not None:
            db.rollback()
            db.close()

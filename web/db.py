"""One database session per request (``get_db()``); the view commits."""

from __future__ import annotations

from typing import Any

from flask import Flask, g
from sqlalchemy.orm import Session

from web.extensions import current_courtyard


def get_db() -> Session:
    if "db" not in g:
        g.db = current_courtyard().sessionmaker()
    return g.db


def commit() -> None:
    get_db().commit()


def session_info(config: Any) -> dict[str, Any]:
    """What every database session of the application carries: the seal of pending secret
    ballots (``core.services.ballot_seal``), keyed from the secret key (and the older keys
    of ``SECRET_KEY_FALLBACKS``, so a ballot sealed before a key change is still opened)."""
    from core.services.ballot_seal import BallotSeal

    keys = [config.get("SECRET_KEY"), *(config.get("SECRET_KEY_FALLBACKS") or ())]
    return {"ballot_seal": BallotSeal(keys)} if any(keys) else {}


def init_app(app: Flask) -> None:
    @app.teardown_appcontext
    def _close(exc: BaseException | None) -> None:
        db = g.pop("db", None)
        if db is not None:
            db.rollback()
            db.close()

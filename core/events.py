"""Lifecycle notifications are queued in the unit of work and sent after it commits.

A service calls :func:`queue` with a hook name and its arguments; nothing is sent if the
transaction rolls back. :func:`install` wires a sessionmaker so that, after each commit,
the queued hooks are called through :func:`core.plugins.notify` (one plugin at a time,
failures isolated).
"""

from __future__ import annotations

from typing import Any, Callable

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

_KEY = "courtyard_events"


def queue(db: Session, hook_name: str, *, community_id: int | None = None, **kwargs: Any) -> None:
    db.info.setdefault(_KEY, []).append((hook_name, community_id, kwargs))


def pending(db: Session) -> list[tuple[str, int | None, dict[str, Any]]]:
    return list(db.info.get(_KEY, []))


Dispatcher = Callable[[str, "int | None", dict[str, Any]], None]


def install(factory: sessionmaker[Session], dispatch: Dispatcher) -> None:
    """After every commit of a session made by ``factory``, hand each queued event to ``dispatch``."""

    @event.listens_for(factory, "after_commit")
    def _after_commit(db: Session) -> None:
        events = db.info.pop(_KEY, [])
        for hook_name, community_id, kwargs in events:
            dispatch(hook_name, community_id, kwargs)

    @event.listens_for(factory, "after_soft_rollback")
    def _after_rollback(db: Session, previous_transaction: Any) -> None:
        if previous_transaction.parent is None:  # the outermost transaction rolled back
            db.info.pop(_KEY, None)

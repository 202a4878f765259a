"""Running the same change from several threads at the same moment, each with its own
connection and unit of work (what two phones or two browsers do), for the race tests."""

from __future__ import annotations

import threading
from typing import Any, Callable, Sequence

from sqlalchemy import event

from core.db import session_scope

#: how long the first writer waits at the rendezvous for the others (see :func:`at_once`)
RENDEZVOUS_TIMEOUT = 1.0


def at_once(sessionmaker: Any, calls: Sequence[Callable[[Any], Any]]) -> tuple[int, list[BaseException]]:
    """Run each ``call(db)`` in its own thread and unit of work, all started together;
    returns how many committed and what the others raised.

    So that a read-then-write race shows every time, not only when the threads happen to
    interleave, each thread's first write waits at a rendezvous until every thread has
    reached its own: all of them have read by then. Code that locks before it reads
    never gets everyone there (the others wait on the lock), so the first writer goes on
    after ``RENDEZVOUS_TIMEOUT`` and the rest do not wait at all."""
    start = threading.Barrier(len(calls))
    rendezvous = threading.Barrier(len(calls))
    local = threading.local()
    done: list[int] = []
    errors: list[BaseException] = []

    def before_flush(db: Any, *_: Any) -> None:
        if getattr(local, "racing", False) and not getattr(local, "met", False):
            local.met = True
            try:
                rendezvous.wait(RENDEZVOUS_TIMEOUT)
            except threading.BrokenBarrierError:
                pass

    def run(call: Callable[[Any], Any]) -> None:
        local.racing = True
        try:
            start.wait(10)
            with session_scope(sessionmaker) as db:
                call(db)
            done.append(1)
        except BaseException as exc:
            errors.append(exc)

    event.listen(sessionmaker, "before_flush", before_flush)
    try:
        threads = [threading.Thread(target=run, args=(c,)) for c in calls]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    finally:
        event.remove(sessionmaker, "before_flush", before_flush)
    return len(done), errors

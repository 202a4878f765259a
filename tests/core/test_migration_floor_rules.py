"""Migration 0009 (floor rules): what the old grant_floor race left behind (several turns
"speaking" in one session, a hand raised twice) is put right before the partial unique
indexes that forbid it are made, so upgrading a database that met the race succeeds."""

from __future__ import annotations

import sqlite3

from alembic import command

from web.cli import alembic_config

T = ["2026-03-02 01:00:00.000000", "2026-03-02 01:01:00.000000", "2026-03-02 01:02:00.000000"]


def test_upgrade_ends_the_stray_speaking_turns_and_duplicate_hands(tmp_path):
    path = tmp_path / "old.db"
    cfg = alembic_config(f"sqlite:///{path}")
    command.upgrade(cfg, "0008")
    raw = sqlite3.connect(path)  # foreign keys off: only the rows the migration looks at
    raw.execute("INSERT INTO live_rooms (session_id, last_seq, floor_request_id) VALUES (1, 9, 3)")
    rows = [(1, 11, "speaking", T[0], T[0]), (2, 12, "speaking", T[0], T[1]), (3, 13, "speaking", T[0], T[2]),
            (4, 15, "waiting", T[0], None), (5, 15, "waiting", T[1], None), (6, 16, "waiting", T[1], None)]
    raw.executemany("INSERT INTO live_floor_requests (id, session_id, participant_id, status, raised_at, granted_at)"
                    " VALUES (?, 1, ?, ?, ?, ?)", rows)
    raw.commit()
    raw.close()
    command.upgrade(cfg, "head")
    raw = sqlite3.connect(path)
    got = {r[0]: r[1:] for r in raw.execute(
        "SELECT id, status, ended_by, ended_at FROM live_floor_requests ORDER BY id")}
    raw.close()
    assert got[3] == ("speaking", None, None)  # the room's floor keeps it
    assert got[1] == ("done", "next", T[1]) and got[2] == ("done", "next", T[2])  # ended by the next grant
    assert got[4][0] == "waiting" and got[5][0] == "withdrawn" and got[6][0] == "waiting"
    command.downgrade(cfg, "0008")

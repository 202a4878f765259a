"""Roster import benchmark (not a test): a 10,000-row roster imported end to end through
the command line on SQLite, against raw ``sqlite3`` inserting the same rows.

    .venv/bin/python bench/bench_roster.py --rows 10000

End to end means what an administrator runs: ``courtyard members import SLUG FILE`` in a
new process (Python start-up, reading and checking the CSV, normalising every phone
number, pinyin for every name, matching and creating 3 levels of places, grouping
households, granting roles, the audit entry, one commit) on a database made by
``courtyard db upgrade`` and ``courtyard community create``. The file is the shape of a
large urban community: 10 grids, 10 buildings a grid, 4 units a building, 3 people a
household, one building head a building, a phone for two people in three.

The raw baseline is the floor: the same rows, already parsed, inserted with
``executemany`` into a table with the members' columns, in one transaction (WAL,
synchronous=NORMAL, as Courtyard's engine sets). A second import of the same file is
timed too (it must change nothing, and is how re-imports of a year's roster behave).
"""

from __future__ import annotations

import argparse
import csv
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COURTYARD = str(ROOT / ".venv" / "bin" / "courtyard")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国红梅兰"


def roster_rows(count: int) -> list[list[str]]:
    rows = [["姓名", "手机号", "网格", "楼栋", "单元", "房号", "户号", "角色"]]
    for i in range(count):
        home = i // 3
        grid, building, unit = home % 10 + 1, home % 100 + 1, home // 100 % 4 + 1
        name = SURNAMES[i % len(SURNAMES)] + GIVEN[i // len(SURNAMES) % len(GIVEN)] + GIVEN[i // 7 % len(GIVEN)]
        phone = f"13{i % 10}{i:08d}" if i % 3 != 2 else ""
        role = "楼栋长" if i < 300 and i % 3 == 0 else ""
        rows.append([f"{name}{i}", phone, f"第{grid}网格", f"{building}栋", f"{unit}单元", f"{home % 30 + 101}",
                     f"{home:05d}", role])
    return rows


def run(*args: str, env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run([COURTYARD, *args], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        head = "\n".join(done.stdout.splitlines()[:20])
        sys.exit(f"courtyard {' '.join(args)} failed ({done.returncode}):\n{head}\n{done.stderr[-2000:]}")
    return elapsed, done.stdout


def raw_sqlite(path: Path, rows: list[list[str]]) -> float:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE members (id INTEGER PRIMARY KEY, community_id INT, display_name TEXT, phone TEXT, "
                 "place TEXT, room TEXT, household TEXT, role TEXT)")
    start = time.perf_counter()
    with conn:
        conn.executemany("INSERT INTO members (community_id, display_name, phone, place, room, household, role) "
                         "VALUES (1, ?, ?, ?, ?, ?, ?)",
                         [(r[0], r[1] or None, "/".join(r[2:5]), r[5], r[6], r[7] or "居民") for r in rows[1:]])
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        rows = roster_rows(args.rows)
        roster = work / "roster.csv"
        with roster.open("w", encoding="utf-8", newline="") as f:
            csv.writer(f).writerows(rows)
        env = {**os.environ, "COURTYARD_DATABASE_URL": f"sqlite:///{work / 'bench.db'}",
               "COURTYARD_SECRET_KEY": "bench", "COURTYARD_INSTANCE_PATH": str(work),
               "COURTYARD_PLUGIN_ENTRYPOINTS": "0"}
        run("db", "upgrade", env=env)
        run("community", "create", "bench", "--name", "基准社区", "--admin", "bench-admin", env=env)
        first, out = run("members", "import", "bench", str(roster), "--lang", "en", env=env)
        print(out.strip())
        second, out = run("members", "import", "bench", str(roster), "--lang", "en", env=env)
        assert f"Members: 0 new, 0 updated, {args.rows} unchanged." in out, out
        baseline = raw_sqlite(work / "raw.db", rows)
        startup, _ = run("--help", env=env)
    print(f"rows: {args.rows}")
    print(f"courtyard members import (first, end to end): {first:.2f} s  "
          f"({args.rows / first:,.0f} rows/s; target < 10 s: {'met' if first < 10 else 'MISSED'})")
    print(f"courtyard members import (same file again):   {second:.2f} s")
    print(f"courtyard process start-up alone (--help):    {startup:.2f} s")
    print(f"raw sqlite3 executemany, one transaction:     {baseline:.3f} s")
    print(f"ratio import / raw sqlite3: {first / baseline:,.0f}x")


if __name__ == "__main__":
    main()

"""``courtyard db backup PATH``: a consistent copy of the database taken while serving.

* SQLite: the online backup API copies one snapshot (in WAL mode writers are not held up
  and what they commit during the copy is simply not in it); the copy is written beside
  PATH, checked with ``PRAGMA integrity_check`` and only then renamed to PATH.
* PostgreSQL: ``pg_dump --format=custom`` (one snapshot too), restored with ``pg_restore``.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path


class BackupError(Exception):
    """The backup could not be made; the message says why and what to do."""


def backup(database_url: str, path: Path, *, force: bool = False) -> str:
    """Back the database at ``database_url`` up to ``path``; returns a one-line summary."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    path = Path(path)
    if path.exists() and not force:
        raise BackupError(f"{path} exists; choose another name or pass --force")
    if not path.parent.is_dir():
        raise BackupError(f"the directory {path.parent} does not exist")
    backend = url.get_backend_name()
    if backend == "sqlite":
        return _sqlite(url.database, path)
    if backend == "postgresql":
        return _postgres(url, path)
    raise BackupError(f"cannot back up a {backend} database")


def _sqlite(database: str | None, path: Path) -> str:
    if not database or database == ":memory:":
        raise BackupError("an in-memory database cannot be backed up")
    source_path = Path(database)
    if not source_path.exists():
        raise BackupError(f"the SQLite database {source_path} does not exist")
    if source_path.resolve() == path.resolve():
        raise BackupError("the backup must not overwrite the database itself")
    partial = path.with_name(f".{path.name}.partial")
    partial.unlink(missing_ok=True)
    source = sqlite3.connect(source_path, timeout=30)
    try:
        target = sqlite3.connect(partial)
        try:
            source.backup(target)  # all pages in one step: one consistent snapshot
            target.execute("PRAGMA journal_mode=DELETE")  # a self-contained file, no -wal beside it
            check = target.execute("PRAGMA integrity_check").fetchall()
        finally:
            target.close()
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(f"SQLite backup failed: {exc}") from exc
    finally:
        source.close()
    if check != [("ok",)]:
        partial.unlink(missing_ok=True)
        raise BackupError(f"the copy failed PRAGMA integrity_check: {check[:3]}")
    os.replace(partial, path)
    return f"backup written: {path} ({path.stat().st_size} bytes, SQLite, integrity_check ok)"


def _postgres(url, path: Path) -> str:
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise BackupError("pg_dump is not installed (apt-get install postgresql-client); or run it yourself: "
                          "pg_dump --format=custom --file PATH DBNAME")
    args = [pg_dump, "--format=custom", "--no-owner", "--file", str(path.with_name(f".{path.name}.partial"))]
    env = {**os.environ}
    if url.host:
        args += ["--host", url.host]
    if url.port:
        args += ["--port", str(url.port)]
    if url.username:
        args += ["--username", url.username]
    if url.password:
        env["PGPASSWORD"] = url.password  # never on the command line, where ps shows it
    options = url.query.get("options")
    if options:  # a dedicated schema: -csearch_path=NAME
        env["PGOPTIONS"] = options if isinstance(options, str) else " ".join(options)
        for value in env["PGOPTIONS"].split():
            if value.startswith("-csearch_path="):
                args += ["--schema", value.split("=", 1)[1].split(",")[0]]
    args.append(url.database or "")
    partial = Path(args[args.index("--file") + 1])
    out = subprocess.run(args, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        partial.unlink(missing_ok=True)
        lines = [line for line in out.stderr.splitlines() if line.strip()]
        raise BackupError(f"pg_dump failed: {lines[-1] if lines else out.returncode}")
    os.replace(partial, path)
    return f"backup written: {path} ({path.stat().st_size} bytes, pg_dump custom format; restore with pg_restore)"

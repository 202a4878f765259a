"""One Alembic chain: it builds exactly the models' schema, on SQLite and on PostgreSQL,
and every revision downgrades."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

import core.models  # noqa: F401
from core.db import Base, make_engine
from web.cli import alembic_config


def schema_diff(url: str) -> list:
    engine = make_engine(url)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    engine.dispose()
    return diff


def tables(url: str) -> set[str]:
    engine = make_engine(url)
    names = set(inspect(engine).get_table_names())
    engine.dispose()
    return names


def check_chain(url: str) -> None:
    cfg = alembic_config(url)
    command.upgrade(cfg, "head")
    assert schema_diff(url) == []
    assert set(Base.metadata.tables) <= tables(url)
    # step down one revision at a time, then all the way up again
    revisions = list(ScriptDirectory.from_config(cfg).walk_revisions())
    for _ in revisions:
        command.downgrade(cfg, "-1")
    assert tables(url) - {"alembic_version"} == set()
    command.upgrade(cfg, "head")
    assert schema_diff(url) == []


def test_one_linear_chain():
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1
    assert len(script.get_bases()) == 1


def test_migrations_match_models_on_sqlite(tmp_path):
    check_chain(f"sqlite:///{tmp_path / 'm.db'}")


@pytest.mark.postgres
def test_migrations_match_models_on_postgresql(fresh_postgres):
    check_chain(fresh_postgres)


def test_roster_revision_gives_existing_members_their_pinyin(tmp_path):
    """Members made before migration 0010 are found by pinyin after the upgrade."""
    from sqlalchemy import text

    url = f"sqlite:///{tmp_path / 'r.db'}"
    cfg = alembic_config(url)
    command.upgrade(cfg, "0009")
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO communities (id, slug, names, default_locale, timezone, created_at) "
                          "VALUES (1, 'renfu', '{}', 'zh_CN', 'Asia/Shanghai', '2026-01-01 00:00:00')"))
        conn.execute(text("INSERT INTO places (id, community_id, kind, name, path) VALUES "
                          "(1, 1, 'community', '人福村', '/1/'), (2, 1, 'building', '9栋', '/1/2/')"))
        conn.execute(text("INSERT INTO members (id, community_id, display_name, place_id, large_text, active, "
                          "created_at) VALUES (1, 1, '张三', 2, 0, 1, '2026-01-01 00:00:00')"))
    command.upgrade(cfg, "0010")
    with engine.connect() as conn:
        row = conn.execute(text("SELECT name_pinyin, search_text FROM members")).one()
    engine.dispose()
    assert tuple(row) == ("zhang san", "|张三|zhangsan|zs|9栋|")
    command.downgrade(cfg, "0006")

"""The plugin commands: `courtyard plugin new` makes a project whose tests pass,
`courtyard plugins list` reports a plugin that fails to import (and the app still
starts), `courtyard plugins pin-hooks --check` agrees with the pinned file, and
`courtyard db upgrade` runs a plugin's chain on its own version table."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from click.testing import CliRunner

from core import plugins as core_plugins
from web.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    monkeypatch.setenv("COURTYARD_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("COURTYARD_SECRET_KEY", "test")
    return tmp_path


def test_plugin_new_scaffolds_a_project_whose_tests_pass(tmp_path):
    result = CliRunner().invoke(main, ["plugin", "new", "bike-shed", "--directory", str(tmp_path)])
    assert result.exit_code == 0, result.output
    project = tmp_path / "courtyard-plugin-bike-shed"
    pyproject = (project / "pyproject.toml").read_text()
    assert 'name = "courtyard-plugin-bike-shed"' in pyproject
    assert '[project.entry-points."courtyard.plugins"]\nbike_shed = "courtyard_bike_shed"' in pyproject
    assert (project / "courtyard_bike_shed" / "__init__.py").exists()
    assert (project / "README.md").exists()
    env = {**os.environ, "PYTHONPATH": str(project)}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", str(project / "tests")], cwd=project, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "3 passed" in run.stdout
    again = CliRunner().invoke(main, ["plugin", "new", "bike-shed", "--directory", str(tmp_path)])
    assert again.exit_code != 0 and "exists already" in again.output
    bad = CliRunner().invoke(main, ["plugin", "new", "Bad Name!", "--directory", str(tmp_path)])
    assert bad.exit_code != 0 and "not a plugin name" in bad.output


@pytest.fixture
def broken_entry_point(monkeypatch):
    broken = EntryPoint(name="broken", value="courtyard_no_such_module_xyz", group=core_plugins.ENTRYPOINT_GROUP)
    monkeypatch.setattr(core_plugins.metadata, "entry_points",
                        lambda group=None: [broken] if group == core_plugins.ENTRYPOINT_GROUP else [])
    return broken


def test_a_plugin_that_fails_to_import_is_listed_and_the_server_starts(cli_env, broken_entry_point, make_app_fn,
                                                                       caplog):
    result = CliRunner().invoke(main, ["plugins", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output[result.output.index("["):])
    broken = [r for r in rows if r["name"] == "broken"]
    assert broken and broken[0]["kind"] == "failed to load"
    assert "ModuleNotFoundError" in broken[0]["error"]
    text = CliRunner().invoke(main, ["plugins", "list"]).output
    assert "broken" in text and "error: ModuleNotFoundError" in text

    app = make_app_fn(PLUGIN_ENTRYPOINTS=True)
    assert "broken" in [f.name for f in app.extensions["courtyard"].pm.load_failures]
    assert app.test_client().get("/healthz").status_code == 200
    assert "plugin broken failed to load" in caplog.text


@pytest.fixture
def make_app_fn(tmp_path):
    from tests.conftest import make_app

    return lambda **kw: make_app(tmp_path, **kw)


def test_pinned_hooks_check_passes_on_the_committed_file():
    result = CliRunner().invoke(main, ["plugins", "pin-hooks", "--check"])
    assert result.exit_code == 0, result.output


def test_pin_hooks_writes_a_file_the_check_then_accepts(tmp_path):
    out = tmp_path / "pins.json"
    assert CliRunner().invoke(main, ["plugins", "pin-hooks", "--output", str(out)]).exit_code == 0
    assert "courtyard_register_migrations" in json.loads(out.read_text())["hooks"]
    out.write_text(out.read_text().replace('"firstresult": true', '"firstresult": false'))
    check = CliRunner().invoke(main, ["plugins", "pin-hooks", "--output", str(out), "--check"])
    assert check.exit_code == 1 and "differ" in check.output


def test_db_upgrade_runs_a_plugins_chain_on_its_own_version_table(cli_env, monkeypatch):
    from core.plugins import hookimpl, make_plugin_manager
    from web import plugin_migrations

    scripts = cli_env / "tiny_migrations"
    (scripts / "versions").mkdir(parents=True)
    (scripts / "env.py").write_text("from web.plugin_migrations import run_env\nrun_env()\n")
    (scripts / "script.py.mako").write_text((ROOT / "migrations" / "script.py.mako").read_text())
    (scripts / "versions" / "t1.py").write_text(
        "import sqlalchemy as sa\nfrom alembic import op\nrevision = 't1'\ndown_revision = None\n"
        "branch_labels = None\ndepends_on = None\n"
        "def upgrade():\n    op.create_table('plugin_tiny_things', sa.Column('id', sa.Integer, primary_key=True))\n"
        "def downgrade():\n    op.drop_table('plugin_tiny_things')\n")

    class Tiny:
        @hookimpl
        def courtyard_register_migrations(self, register):
            register(str(scripts))

    def manager(**kw):
        pm = make_plugin_manager(entrypoints=False)
        pm.register(Tiny(), name="tiny")
        return pm

    monkeypatch.setattr(plugin_migrations, "make_plugin_manager", manager)
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    db_file = cli_env / "cli.db"

    def tables():
        with sqlite3.connect(db_file) as conn:
            return {r[0] for r in conn.execute("select name from sqlite_master where type='table'")}

    assert {"plugin_tiny_things", "alembic_version_plugin_tiny", "alembic_version", "communities"} <= tables()
    with sqlite3.connect(db_file) as conn:
        assert conn.execute("select version_num from alembic_version_plugin_tiny").fetchall() == [("t1",)]
    assert CliRunner().invoke(main, ["db", "upgrade"]).exit_code == 0  # idempotent
    down = CliRunner().invoke(main, ["db", "downgrade-plugin", "tiny", "base"])
    assert down.exit_code == 0, down.output
    assert "plugin_tiny_things" not in tables() and "communities" in tables()
    missing = CliRunner().invoke(main, ["db", "downgrade-plugin", "nope"])
    assert missing.exit_code != 0 and "has no migrations" in missing.output

"""The `courtyard` command: migrations, the demo (idempotent), plugins list."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from web.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("COURTYARD_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("COURTYARD_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("COURTYARD_SECRET_KEY", "cli-test")
    monkeypatch.setenv("COURTYARD_PLUGIN_ENTRYPOINTS", "0")
    return tmp_path


def test_upgrade_then_demo_twice_changes_nothing(env):
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    first = runner.invoke(main, ["demo", "--json"])
    assert first.exit_code == 0, first.output
    info = json.loads(first.output)
    assert [c["name"] for c in info["communities"]] == ["人福村", "涂新社区"]
    live = [s for s in info["sessions"] if s["status"] == "live"]
    assert live and live[0]["join_url"].endswith("/j/" + live[0]["join_code"])
    assert all(s["join_code"] and len(s["join_code"]) == 8 for s in info["sessions"])
    second = json.loads(runner.invoke(main, ["demo", "--json"]).output)
    assert [s["id"] for s in second["sessions"]] == [s["id"] for s in info["sessions"]]
    assert len(second["logins"]) == len(info["logins"])
    resident = next(x for x in info["logins"] if x["name"] == "王阿婆")
    assert "/s/" in resident["sign_in_url"]
    plain = runner.invoke(main, ["demo"])
    assert "courtyard-demo" in plain.output and "http://127.0.0.1:5000/c/renfu" in plain.output


def test_plugins_list_names_builtins_and_hooks(env):
    runner = CliRunner()
    runner.invoke(main, ["db", "upgrade"])
    runner.invoke(main, ["demo"])
    result = runner.invoke(main, ["plugins", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert rows["formats"]["kind"] == "built-in"
    assert "courtyard_register_formats" in rows["formats"]["hooks"]
    assert rows["categories"]["enabled_in"] == ["renfu", "tuxin"]


def test_serve_refuses_bad_settings(env, monkeypatch):
    """More cases, one per problem, in tests/web/test_server.py."""
    monkeypatch.setenv("COURTYARD_DATABASE_URL", "not a url")
    result = CliRunner().invoke(main, ["serve", "--port", "5999"])
    assert result.exit_code == 2 and "COURTYARD_DATABASE_URL" in result.output
    monkeypatch.setenv("COURTYARD_DATABASE_URL", f"sqlite:///{env / 'x.db'}")
    result = CliRunner().invoke(main, ["serve", "--port", "5999", "--workers", "2"])
    assert result.exit_code == 2 and "use --processes 2" in result.output
    result = CliRunner().invoke(main, ["serve", "--port", "5999", "--processes", "2"])
    assert result.exit_code == 2 and "needs COURTYARD_MESSAGE_QUEUE" in result.output
    monkeypatch.setenv("COURTYARD_MESSAGE_QUEUE", "redis://127.0.0.1:1/0")
    result = CliRunner().invoke(main, ["serve", "--port", "5999"])
    assert result.exit_code == 2 and "cannot reach Redis" in result.output


def test_core_never_imports_the_web_layer():
    forbidden = {"flask", "flask_socketio", "marshmallow", "flask_babel", "flask_login", "flask_wtf", "web", "plugins"}
    offenders = []
    for path in (ROOT / "core").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in forbidden]
    assert offenders == []


def test_courtyard_tally_command(tmp_path):
    ballots = tmp_path / "ballots.json"
    ballots.write_text(json.dumps({"options": ["修路", "装路灯", "建广场"],
                                   "ballots": [["修路", "装路灯"], ["装路灯"], ["建广场", "修路"], ["修路"]],
                                   "counts": [3, 2, 2, 1]}, ensure_ascii=False), encoding="utf-8")
    result = CliRunner().invoke(main, ["tally", "--method", "irv", str(ballots)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["winners"] == ["修路"]
    bad = tmp_path / "bad.json"
    bad.write_text('{"options": ["a"], "ballots": [["b"]]}')
    result = CliRunner().invoke(main, ["tally", "--method", "irv", str(bad)])
    assert result.exit_code == 2 and "ballots[0]" in result.output

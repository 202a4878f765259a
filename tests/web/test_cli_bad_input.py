"""Commands answer bad input with a message and an exit status, not a traceback: a
motion id past the database's range, a tally file nested past the interpreter's stack,
a lone surrogate in a tally file."""

from __future__ import annotations

import json

from click.testing import CliRunner

from plugins.tally.cli import main as tally_main
from web.cli import main


def test_verify_refuses_an_id_past_the_database_range(tmp_path, monkeypatch):
    monkeypatch.setenv("COURTYARD_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("COURTYARD_PLUGIN_ENTRYPOINTS", "0")
    assert CliRunner().invoke(main, ["db", "upgrade"]).exit_code == 0
    result = CliRunner().invoke(main, ["verify", str(2**64)])
    assert result.exit_code == 2, result.exception  # click's usage error, not an OverflowError
    assert "range" in result.output


def test_tally_refuses_json_nested_too_deeply(tmp_path, capsys):
    path = tmp_path / "deep.json"
    path.write_text('{"options": ["a"], "ballots": ' + "[" * 100_000 + "]" * 100_000 + "}", encoding="utf-8")
    assert tally_main(["--method", "plurality", str(path)]) == 2
    assert "nested too deeply" in capsys.readouterr().err


def test_tally_prints_a_lone_surrogate_escaped(tmp_path, capsys):
    path = tmp_path / "odd.json"
    path.write_text(json.dumps({"options": ["a\ud800", "b"], "ballots": [{"choice": "a\ud800"}]}), encoding="utf-8")
    status = tally_main(["--method", "plurality", str(path)])
    out = capsys.readouterr()
    assert status in (0, 2) and "Traceback" not in out.err
    if status == 0:
        assert json.loads(out.out)["winners"] == ["a\ud800"]

"""The tally plugin registers its methods through the hook."""

from __future__ import annotations

import json

import pluggy

from core import hookspecs
from core.registry import TallyMethod
from plugins import tally as tally_plugin

EXPECTED = {
    "majority": ("yesno", "多数表决", "Majority"),
    "plurality": ("choice", "相对多数", "Plurality"),
    "approval": ("approval", "认可投票", "Approval"),
    "irv": ("ranking", "即时决选", "Instant runoff"),
    "schulze": ("ranking", "舒尔茨法", "Schulze"),
    "borda": ("ranking", "波达计数", "Borda count"),
    "score": ("scores", "评分投票", "Score"),
    "satisfaction": ("scores", "满意度测评", "Satisfaction rating"),
}


def registered():
    pm = pluggy.PluginManager("courtyard")
    pm.add_hookspecs(hookspecs)
    pm.register(tally_plugin, name="tally")
    got: list[TallyMethod] = []
    pm.hook.courtyard_register_tally_methods(register=got.append)
    pm.unregister(name="tally")
    return got


def test_hook_registers_all_eight_methods():
    got = registered()
    assert [m.key for m in got] == list(EXPECTED)
    for m in got:
        kind, zh, en = EXPECTED[m.key]
        assert m.ballot_kind == kind
        assert m.name("zh_CN") == zh and m.name("en") == en
        assert callable(m.tally) and callable(m.make_ballot_schema)
        json.dumps(dict(m.params))


def test_builtin_methods_returns_the_same_methods():
    methods = tally_plugin.builtin_methods()
    assert list(methods) == list(EXPECTED)
    assert methods["irv"].tally is tally_plugin.METHODS["irv"].tally


def test_registered_methods_tally_their_own_schema_output():
    for m in registered():
        options = ["X", "Y"]
        field = {"yesno": "choice", "choice": "choice", "approval": "approvals",
                 "ranking": "ranking", "scores": "scores"}[m.ballot_kind]
        raw = {"yesno": "yes", "choice": "Y", "approval": ["Y"], "ranking": ["Y", "X"],
               "scores": {"Y": 5, "X": 1}}[m.ballot_kind]
        ballot = m.make_ballot_schema(options, {}).load({field: raw})
        result = m.tally(options, [ballot], None, {})
        assert result["winners"] == (["yes"] if m.key == "majority" else ["Y"])


def test_counting_code_imports_neither_marshmallow_nor_flask():
    """The pure tally functions stay usable without the web stack."""
    import ast
    from pathlib import Path

    import plugins.tally._common as common_module
    import plugins.tally.methods as methods_module

    for module in (methods_module, common_module):
        tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
        imported = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0])
        assert not imported & {"marshmallow", "flask", "web"}, module.__name__

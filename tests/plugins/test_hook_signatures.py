"""The public hook API cannot change by accident.

``hook_signatures.json`` pins every hook's name, argument names and call mode. After a
deliberate change (a new hook, or a new version of one with the old kept as a deprecated
hook), regenerate it with ``courtyard plugins pin-hooks`` and say why in the commit.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from flask import Blueprint

from core import hookspecs
from core.plugins import DEPRECATED_HOOKS, collect, hook_signatures, hookimpl, make_plugin_manager

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PINNED = HERE / "hook_signatures.json"
REGENERATE = "run `courtyard plugins pin-hooks` if the change is deliberate"


def test_every_public_hook_signature_is_pinned():
    pinned = json.loads(PINNED.read_text())
    current = hook_signatures()
    assert current["hook_api_version"] == pinned["hook_api_version"], REGENERATE
    removed = sorted(set(pinned["hooks"]) - set(current["hooks"]))
    assert not removed, f"hooks removed: {removed}; keep them deprecated for a release ({REGENERATE})"
    added = sorted(set(current["hooks"]) - set(pinned["hooks"]))
    assert not added, f"hooks added without pinning: {added}; {REGENERATE}"
    for name, spec in pinned["hooks"].items():
        assert current["hooks"][name] == spec, f"{name} changed: {current['hooks'][name]} != {spec}; {REGENERATE}"


def test_every_hook_has_a_section_in_the_hook_docs():
    docs = (ROOT / "docs" / "hooks.md").read_text()
    documented = set(re.findall(r"^### (courtyard_\w+)\(", docs, re.M))
    pm = make_plugin_manager(entrypoints=False)
    hooks = {name for name in dir(pm.hook) if name.startswith("courtyard_")}
    assert hooks - documented == set(), "hooks without a `### name(` section in docs/hooks.md"


def test_documented_arguments_match_the_spec():
    docs = (ROOT / "docs" / "hooks.md").read_text()
    for name, args in re.findall(r"^### (courtyard_\w+)\(([^)]*)\)", docs, re.M):
        spec = hook_signatures()["hooks"].get(name)
        assert spec is not None, f"docs/hooks.md documents {name}, which is not a hook"
        assert [a.strip() for a in args.split(",") if a.strip()] == spec["args"], name


def test_spec_arguments_have_no_defaults_and_hooks_are_prefixed():
    import inspect

    for name in dir(hookspecs):
        fn = getattr(hookspecs, name)
        if callable(fn) and hasattr(fn, "courtyard_spec"):
            assert name.startswith("courtyard_")
            params = inspect.signature(fn).parameters.values()
            assert all(p.default is inspect.Parameter.empty for p in params), name


def test_the_deprecated_v0_blueprints_hook_warns_and_still_works():
    pm = make_plugin_manager(entrypoints=False)
    bp = Blueprint("plugin_oldstyle", __name__)

    class OldStyle:
        @hookimpl
        def courtyard_blueprints(self):
            return [bp]

    with pytest.deprecated_call(match="courtyard_register_blueprints"):
        pm.register(OldStyle(), name="oldstyle")
    assert ("oldstyle", bp) in collect(pm, "courtyard_register_blueprints")
    old = DEPRECATED_HOOKS["courtyard_blueprints"]
    assert old.replaced_by == "courtyard_register_blueprints"
    assert old.deprecated_in <= hookspecs.HOOK_API_VERSION < old.removed_in, "remove the deprecated hook now"


def test_a_deprecated_hook_still_serves_pages(courtyard_make_app, courtyard_make_community):
    bp = Blueprint("plugin_oldstyle", __name__)
    bp.add_url_rule("/c/<slug>/old", "page", lambda slug: f"old page of {slug}")

    class OldStyle:
        plugin_name = "oldstyle"

        @hookimpl
        def courtyard_blueprints(self):
            return [bp]

    with pytest.deprecated_call():
        app = courtyard_make_app([OldStyle()])
    community = courtyard_make_community("renfu", app=app)
    assert app.test_client().get(f"/c/{community.slug}/old").get_data(as_text=True) == "old page of renfu"

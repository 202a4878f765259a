"""``courtyard plugin new NAME``: scaffold a plugin distribution from the templates in
``files/`` (``string.Template``: ``$name``, ``$package``, ``$distribution``...)."""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

FILES = Path(__file__).resolve().parent / "files"
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{1,38}[a-z0-9]$")

#: template file → path in the new project (``{package}`` replaced)
LAYOUT = {
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "package_init.py.tmpl": "{package}/__init__.py",
    "page.html.tmpl": "{package}/templates/{name}/index.html",
    "conftest.py.tmpl": "tests/conftest.py",
    "test_plugin.py.tmpl": "tests/test_{name}.py",
}


def names(raw: str) -> dict[str, str]:
    """``volunteer-points`` → name ``volunteer_points``, package ``courtyard_volunteer_points``,
    distribution ``courtyard-plugin-volunteer-points``, blueprint ``plugin_volunteer_points``."""
    name = raw.strip().lower().replace("-", "_")
    if name.startswith("courtyard_plugin_"):
        name = name[len("courtyard_plugin_"):]
    if not NAME_RE.match(name) or "__" in name:
        raise ValueError(f"{raw!r} is not a plugin name: use 3 to 40 lower-case letters, digits and - or _")
    return {
        "name": name,
        "package": f"courtyard_{name}",
        "distribution": f"courtyard-plugin-{name.replace('_', '-')}",
        "blueprint": f"plugin_{name}",
        "url": name.replace("_", "-"),
        "title": name.replace("_", " ").capitalize(),
    }


def generate(raw: str, directory: str | Path = ".") -> Path:
    values = names(raw)
    target = Path(directory) / values["distribution"]
    if target.exists():
        raise FileExistsError(f"{target} exists already")
    for template, relative in LAYOUT.items():
        path = target / relative.format(**values)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template((FILES / template).read_text()).substitute(values))
    return target

"""The operator's guide and the example configurations cannot drift from the code:
every ``COURTYARD_*`` variable the code reads is in docs/operations.md's settings table,
and deploy/nginx/courtyard.conf passes ``nginx -t``."""

from __future__ import annotations

import re
import subprocess

from tests.conftest import ROOT, nginx_with_shipped_site

GUIDE = ROOT / "docs" / "operations.md"


def settings_read_by_the_code() -> set[str]:
    names: set[str] = set()
    for folder in ("web", "core", "plugins"):
        for path in (ROOT / folder).rglob("*.py"):
            source = path.read_text(encoding="utf-8")
            names |= set(re.findall(r"""(?:environ\.get|getenv|env\.get|setenv)\(\s*["'](COURTYARD_[A-Z_]+)""",
                                    source))
            names |= set(re.findall(r"""environ\[\s*["'](COURTYARD_[A-Z_]+)""", source))
    return names


def test_every_setting_is_in_the_operators_guide():
    names = settings_read_by_the_code()
    assert {"COURTYARD_DATABASE_URL", "COURTYARD_MESSAGE_QUEUE", "COURTYARD_SECRET_KEY"} <= names
    table = GUIDE.read_text(encoding="utf-8").split("## Settings", 1)[1].split("\n## ", 1)[0]
    missing = sorted(name for name in names if f"`{name}`" not in table)
    assert missing == [], f"add these to the settings table of docs/operations.md: {missing}"


def test_the_example_nginx_configuration_is_valid(tmp_path):
    nginx, conf, site = nginx_with_shipped_site(tmp_path)
    out = subprocess.run([nginx, "-t", "-c", str(conf), "-p", str(tmp_path)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "test is successful" in out.stderr
    assert "hash $remote_addr consistent;" in site and "proxy_set_header Upgrade           $http_upgrade;" in site

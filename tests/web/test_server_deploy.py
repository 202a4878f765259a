"""The operator's guide and the example configurations cannot drift from the code:
every ``COURTYARD_*`` variable the code reads is in docs/operations.md's settings table,
and deploy/nginx/courtyard.conf passes ``nginx -t``."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "operations.md"


def settings_read_by_the_code() -> set[str]:
    names: set[str] = set()
    for folder in ("web", "core", "plugins"):
        for path in (ROOT / folder).rglob("*.py"):
            source = path.read_text(encoding="utf-8")
            names |= set(re.findall(r"""(?:environ\.get|getenv|env\.get|setenv)\(\s*["'](COURTYARD_[A-Z_]+)""",
                                    source))
            names |= set(re.findall(r"""environ\[\s*["'](COURTYARD_[A-Z_]+)""", source))
            names |= set(re.findall(r"""_seconds\([^)]*["'](COURTYARD_[A-Z_]+)["']""", source))
    return names


def test_every_setting_is_in_the_operators_guide():
    names = settings_read_by_the_code()
    assert {"COURTYARD_DATABASE_URL", "COURTYARD_MESSAGE_QUEUE", "COURTYARD_SECRET_KEY"} <= names
    table = GUIDE.read_text(encoding="utf-8").split("## Settings", 1)[1].split("\n## ", 1)[0]
    missing = sorted(name for name in names if f"`{name}`" not in table)
    assert missing == [], f"add these to the settings table of docs/operations.md: {missing}"


def test_the_example_nginx_configuration_is_valid(tmp_path):
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    openssl = shutil.which("openssl")
    if nginx is None or openssl is None:
        pytest.skip("nginx or openssl is not installed (apt-get install nginx openssl)")
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(tmp_path / "key.pem"),
                    "-out", str(tmp_path / "cert.pem"), "-days", "1", "-subj", "/CN=localhost"],
                   check=True, capture_output=True, timeout=60)
    site = (ROOT / "deploy" / "nginx" / "courtyard.conf").read_text(encoding="utf-8")
    site = site.replace("/etc/ssl/courtyard/fullchain.pem", str(tmp_path / "cert.pem"))
    site = site.replace("/etc/ssl/courtyard/privkey.pem", str(tmp_path / "key.pem"))
    (tmp_path / "site.conf").write_text(site, encoding="utf-8")
    temp = " ".join(f"{kind}_temp_path {tmp_path / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi",
                                                                        "scgi"))
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path / 'nginx.pid'};\nerror_log {tmp_path / 'error.log'};\nevents {{}}\n"
        f"http {{ access_log off; {temp} include {tmp_path / 'site.conf'}; }}\n", encoding="utf-8")
    out = subprocess.run([nginx, "-t", "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "test is successful" in out.stderr
    assert "hash $remote_addr consistent;" in site and "proxy_set_header Upgrade           $http_upgrade;" in site

"""Shared fixtures: an app on a throwaway database, a signed-in client, factories.

PostgreSQL and Redis tests use real servers (``COURTYARD_TEST_POSTGRES_URL``,
``COURTYARD_TEST_REDIS_URL``; defaults are the local ones). Without them those tests are
skipped with the reason — except under CI (``CI=true``), where a missing server fails.
"""

from __future__ import annotations

import os
import re
import socket
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
from sqlalchemy import create_engine, text

from core.db import session_scope
from core.models.member import Role

POSTGRES_URL = os.environ.get("COURTYARD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("COURTYARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
IN_CI = os.environ.get("CI", "").lower() == "true"
ROOT = Path(__file__).resolve().parent.parent

PASSWORD = "correct horse battery"


def pytest_configure(config: Any) -> None:
    from core.services.auth import use_cheap_hashing

    use_cheap_hashing()


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, url: str, host: str, port: int) -> None:
    if _reachable(host, port):
        return
    message = f"{name} is not reachable at {host}:{port} ({url}); start it to run this test"
    if IN_CI:
        pytest.fail(message + " — CI requires it")
    pytest.skip(message)


def nginx_with_shipped_site(tmp_path: Path, edit: Any = lambda site: site) -> tuple[str, Path, str]:
    """deploy/nginx/courtyard.conf as shipped (through ``edit``), with a throwaway
    certificate for 127.0.0.1, wrapped in an nginx.conf that keeps everything under
    ``tmp_path``. Returns (the nginx binary, that nginx.conf, the site's text). Without
    nginx or openssl the test is skipped, or fails in CI (``make test`` installs them)."""
    import shutil
    import subprocess

    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx is None or shutil.which("openssl") is None:
        message = "nginx or openssl is not installed (apt-get install nginx-light openssl)"
        if IN_CI:
            pytest.fail(message + " — CI requires it")
        pytest.skip(message)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(tmp_path / "key.pem"),
                    "-out", str(tmp_path / "cert.pem"), "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True, timeout=60)
    site = edit((ROOT / "deploy" / "nginx" / "courtyard.conf").read_text(encoding="utf-8"))
    site = site.replace("/etc/ssl/courtyard/fullchain.pem", str(tmp_path / "cert.pem"))
    site = site.replace("/etc/ssl/courtyard/privkey.pem", str(tmp_path / "key.pem"))
    (tmp_path / "site.conf").write_text(site, encoding="utf-8")
    temp = " ".join(f"{kind}_temp_path {tmp_path / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi",
                                                                        "scgi"))
    (tmp_path / "nginx.conf").write_text(
        f"daemon off;\nworker_processes 1;\npid {tmp_path / 'nginx.pid'};\nerror_log {tmp_path / 'nginx.log'};\n"
        f"events {{}}\nhttp {{ access_log {tmp_path / 'access.log'}; {temp} include {tmp_path / 'site.conf'}; }}\n",
        encoding="utf-8")
    return nginx, tmp_path / "nginx.conf", site


@pytest.fixture(scope="session")
def postgres_url() -> str:
    require_service("PostgreSQL", POSTGRES_URL, "127.0.0.1", 5432)
    return POSTGRES_URL


@pytest.fixture(scope="session")
def redis_url() -> str:
    require_service("Redis", REDIS_URL, "127.0.0.1", 6379)
    return REDIS_URL


@pytest.fixture
def fresh_postgres(postgres_url: str) -> Iterator[str]:
    """An empty PostgreSQL schema of its own, dropped afterwards."""
    schema = f"t_{os.getpid()}_{abs(hash(os.urandom(8))) % 10**8}"
    engine = create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    sep = "&" if "?" in postgres_url else "?"
    yield f"{postgres_url}{sep}options=-csearch_path%3D{schema}"
    engine = create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


class Clock:
    """An injected clock: tests move time forward instead of sleeping."""

    def __init__(self, now: datetime | None = None):
        self.now = now or datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: Any) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def race_app(request, tmp_path, clock):
    """An app on SQLite and on PostgreSQL (the races tests: every race on both)."""
    url = None if request.param == "sqlite" else request.getfixturevalue("fresh_postgres")
    overrides: dict[str, Any] = {"DATABASE_URL": url} if url else {}
    app = make_app(tmp_path, COURTYARD_CLOCK=clock, **overrides)
    yield app
    app.extensions["courtyard"].engine.dispose()


def make_app(tmp_path: Path, **overrides: Any):
    from web import create_app

    config = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'test.db'}",
        "CREATE_TABLES": True,
        "SECRET_KEY": "test-secret",
        "PLUGIN_ENTRYPOINTS": False,
        "TESTING": True,
        "SERVER_NAME": "courtyard.test",
    }
    config.update(overrides)
    return create_app(config)


@pytest.fixture
def app(tmp_path: Path):
    return make_app(tmp_path)


@pytest.fixture
def db(app) -> Iterator[Any]:
    """A database session on the app's database; committed work is visible to requests."""
    session = app.extensions["courtyard"].sessionmaker()
    yield session
    session.rollback()
    session.close()


class World:
    """A community with a place tree and a member of every role. ``world.login(client, member)``."""

    def __init__(self, app, slug: str = "renfu"):
        from core.services import communities as cs

        self.app = app
        cy = app.extensions["courtyard"]
        with session_scope(cy.sessionmaker) as db:
            c = cs.create_community(db, slug=slug, names={"zh_CN": "人福村", "en": "Renfu Village"})
            street = cs.add_place(db, actor=None, community=c, kind="street", name="盛泽镇")
            village = cs.add_place(db, actor=None, community=c, kind="community", name="人福村", parent=street)
            grid = cs.add_place(db, actor=None, community=c, kind="grid", name="东片网格", parent=village)
            other_grid = cs.add_place(db, actor=None, community=c, kind="grid", name="西片网格", parent=village)
            building = cs.add_place(db, actor=None, community=c, kind="building", name="9栋", parent=grid)
            unit = cs.add_place(db, actor=None, community=c, kind="unit", name="9栋1单元", parent=building)
            self.community_id, self.slug = c.id, c.slug
            self.place_ids = {"street": street.id, "village": village.id, "grid": grid.id,
                              "other_grid": other_grid.id, "building": building.id, "unit": unit.id}

            def member(name: str, username: str | None, roles: list[tuple[Role, Any]], place: Any = None) -> int:
                m = cs.add_member(db, actor=None, community=c, display_name=name,
                                  username=f"{slug}-{username}" if username else None,
                                  password=PASSWORD if username else None, place=place, roles=roles)
                return m.id

            self.ids = {
                "admin": member("计菲菲", "admin", [(Role.ADMIN, None)]),
                "moderator": member("莫主持", "moderator", [(Role.MODERATOR, None)]),
                "host": member("李月昌", "host", [(Role.HOST, None)], grid),
                "grid_head": member("沈网格长", "grid", [(Role.GRID_HEAD, grid)], grid),
                "other_grid_head": member("西网格长", "grid2", [(Role.GRID_HEAD, other_grid)], other_grid),
                "department": member("城管局", "dept", [(Role.DEPARTMENT, None)]),
                "resident": member("王阿婆", None, [(Role.RESIDENT, unit)], unit),
                "resident2": member("张师傅", "resident2", [(Role.RESIDENT, unit)], unit),
                "other_resident": member("陈阿姨", None, [(Role.RESIDENT, other_grid)], other_grid),
            }

    def username(self, role: str) -> str:
        return {"admin": "admin", "moderator": "moderator", "host": "host", "grid_head": "grid",
                "other_grid_head": "grid2", "department": "dept", "resident2": "resident2"}[role]

    def login(self, client, role: str) -> None:
        """Sign ``role`` in on ``client`` through the sign-in form (or a sign-in link)."""
        if role in ("resident", "other_resident"):
            from core.models import Member
            from core.services.auth import issue_sign_in_token

            cy = self.app.extensions["courtyard"]
            with session_scope(cy.sessionmaker) as db:
                token = issue_sign_in_token(db, actor=None, member=db.get(Member, self.ids[role]))
            page = client.get(f"/s/{token}")
            response = client.post(f"/s/{token}", data={"csrf_token": csrf_from(page)})
        else:
            page = client.get("/sign-in")
            response = client.post("/sign-in", data={"csrf_token": csrf_from(page),
                                                     "username": f"{self.slug}-{self.username(role)}",
                                                     "password": PASSWORD})
        assert response.status_code == 302, response.get_data(as_text=True)[:500]

    def api_headers(self, client) -> dict[str, str]:
        """Headers for a cookie-authenticated JSON call: the CSRF token of the session."""
        page = client.get("/sign-in")
        return {"X-CSRFToken": csrf_from(page)}


def csrf_from(response) -> str:
    match = re.search(r'name="csrf-token" content="([^"]+)"', response.get_data(as_text=True))
    assert match, "no CSRF token on the page"
    return match.group(1)


@pytest.fixture
def world(app) -> World:
    return World(app)


@pytest.fixture
def client(app):
    return app.test_client()

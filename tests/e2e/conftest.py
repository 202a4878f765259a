"""Real processes and a real browser: `courtyard serve` on a free loopback port, and
Debian's chromium driven by Playwright (never a downloaded browser)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.conftest import IN_CI, ROOT

CHROMIUM = os.environ.get("COURTYARD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
COURTYARD = [sys.executable, "-m", "web.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A `courtyard serve` process on its own database; ``demo`` is `courtyard demo --json`."""

    port: int
    env: dict[str, str]
    log: Path
    demo: dict[str, Any] = field(default_factory=dict)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> None:
        with self.log.open("ab") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen([*COURTYARD, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                                         env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"server did not start: {self.log.read_text()[-2000:]}")

    def stop(self, kill: bool = False) -> None:
        if self.proc is None:
            return
        if kill:
            self.proc.kill()
        else:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self.proc = None


def prepare_server(tmp: Path, *, database_url: str | None = None, extra_env: dict[str, str] | None = None) -> Server:
    port = free_port()
    env = {**os.environ, "COURTYARD_DATABASE_URL": database_url or f"sqlite:///{tmp / 'courtyard.db'}",
           "COURTYARD_INSTANCE_PATH": str(tmp), "COURTYARD_SECRET_KEY": "e2e-secret",
           "PYTHONUNBUFFERED": "1", **(extra_env or {})}
    env.pop("COURTYARD_MESSAGE_QUEUE", None) if not (extra_env or {}).get("COURTYARD_MESSAGE_QUEUE") else None
    subprocess.run([*COURTYARD, "db", "upgrade"], env=env, cwd=ROOT, check=True, capture_output=True)
    out = subprocess.run([*COURTYARD, "demo", "--json", "--base-url", f"http://127.0.0.1:{port}"], env=env, cwd=ROOT,
                         check=True, capture_output=True, text=True)
    return Server(port=port, env=env, log=tmp / f"server-{port}.log", demo=json.loads(out.stdout))


@pytest.fixture(autouse=True)
def no_client_left_reconnecting() -> Iterator[None]:
    """After each test, stop every python-socketio client still trying to reconnect to a
    server the test has stopped: its reconnection thread would otherwise run on into later
    tests (drawing on the ``random`` module, which hypothesis checks, and holding sockets)."""
    yield
    try:
        from socketio import base_client
    except ImportError:  # pragma: no cover
        return
    for client in list(base_client.reconnecting_clients):
        if client._reconnect_abort is not None:
            client._reconnect_abort.set()
    for client in list(base_client.reconnecting_clients):
        task = getattr(client, "_reconnect_task", None)
        if task is not None:
            task.join(5)


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory) -> Iterator[Server]:
    server = prepare_server(tmp_path_factory.mktemp("server"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chromium_browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        message = f"chromium is not installed at {CHROMIUM} (apt-get install chromium)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}


# ---------------------------------------------------------------------------
# fault tests (tests/e2e/test_faults.py): voters with API tokens, an own Redis, figures

SEED_VOTERS = """
import json, sys
from sqlalchemy import select
from core.db import session_scope
from core.models import Community
from core.models.member import Role
from core.services import auth, communities as cs, plugins as plugin_settings, votes as svc
from web import create_app

args = json.loads(sys.argv[1])
app = create_app()
cy = app.extensions["courtyard"]
with session_scope(cy.sessionmaker) as db:
    c = db.scalar(select(Community).where(Community.slug == args["slug"]))
    if c is None:
        c = cs.create_community(db, slug=args["slug"], names={"zh_CN": "故障演练", "en": "Fault drill"})
    members, tokens = [], []
    for i in range(args["members"]):
        m = cs.add_member(db, actor=None, community=c, display_name=f"演练居民{i}", roles=[(Role.RESIDENT, None)])
        members.append(m.id)
        tokens.append(auth.issue_api_token(db, member=m, label="faults"))
    majority = cy.catalog.tally_methods.get("majority")
    motions = {"open": svc.create_motion(db, actor=None, community=c, method=majority, title="演练：公开表决",
                                         results_visibility="live", open_now=True).id}
    if args["secret"]:
        motions["secret"] = svc.create_motion(db, actor=None, community=c, method=majority, title="演练：无记名表决",
                                              secret=True, open_now=True).id  # secret: never live results
    for name in args["enable"]:
        plugin_settings.set_enabled(db, actor=None, pm=cy.pm, community_id=c.id, name=name, enabled=True)
    db.flush()
    print(json.dumps({"community_id": c.id, "members": members, "tokens": tokens, "motions": motions}))
"""


def seed_voters(env: dict[str, str], *, members: int, slug: str = "drill", secret: bool = True,
                enable: tuple[str, ...] = ()) -> dict[str, Any]:
    """Add ``members`` residents with API tokens (``Authorization: Bearer`` in the socket
    handshake) to the community ``slug`` (made if missing) and open a yes/no motion with
    live results (``motions["open"]``) and, with ``secret``, a secret one with results hidden
    until close (``motions["secret"]``); enable the plugins named in ``enable`` there. Runs in a child
    process on ``env``'s database, like the server."""
    out = subprocess.run([sys.executable, "-c", SEED_VOTERS, json.dumps({"slug": slug, "members": members,
                                                                          "secret": secret, "enable": list(enable)})],
                         env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


CLOSE_MOTIONS = """
import json, sys
from core.db import session_scope
from core.services import votes as svc
from web import create_app

app = create_app()
cy = app.extensions["courtyard"]
with app.app_context(), session_scope(cy.sessionmaker) as db:
    for motion_id in json.loads(sys.argv[1]):
        motion = svc.get_motion(db, motion_id)
        svc.close_motion(db, actor=None, motion=motion, method=cy.catalog.tally_methods.get(motion.method_key))
"""


def close_motions(env: dict[str, str], motion_ids: list[int]) -> None:
    """Close the motions (as the system does at ``closes_at``) on ``env``'s database, in a
    child process with the server's secret key: the close writes out every secret ballot
    still sealed, so the stored ballots can be compared with what the phones were told."""
    out = subprocess.run([sys.executable, "-c", CLOSE_MOTIONS, json.dumps(list(motion_ids))], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]


def courtyard_verify(env: dict[str, str], motion_id: int) -> subprocess.CompletedProcess:
    """``courtyard verify MOTION`` (hash chain, receipts, replay, recount) on ``env``'s database."""
    return subprocess.run([*COURTYARD, "verify", str(motion_id)], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


@dataclass
class RedisProcess:
    """A redis-server of the test's own on a free loopback port (no persistence), so
    stopping it affects nothing else. ``stop()`` kills it; ``start()`` brings it back on
    the same port."""

    port: int
    log: Path
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                          "--save", "", "--appendonly", "no"], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.05)  # polling a starting process
        raise RuntimeError(f"redis-server did not start: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None


@pytest.fixture
def own_redis(tmp_path) -> Iterator[RedisProcess]:
    binary = shutil.which("redis-server")
    if binary is None:
        message = "redis-server is not installed (apt-get install redis-server)"
        if IN_CI:
            pytest.fail(message + " — CI requires it")
        pytest.skip(message)
    server = RedisProcess(port=free_port(), log=tmp_path / "redis.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


#: figures measured by the fault tests in this run, printed at the end (``-rA`` or not)
FAULT_FIGURES: list[tuple[str, dict[str, Any]]] = []


@pytest.fixture
def fault_figures(request, record_property):
    """``report(**figures)``: keep the test's figures (JUnit properties, the terminal
    summary, and printed at once for ``-s``)."""

    def report(**figures: Any) -> None:
        name = request.node.name
        FAULT_FIGURES.append((name, figures))
        for key, value in figures.items():
            record_property(key, value)
        print(f"\nFAULT FIGURES {name}: {json.dumps(figures, ensure_ascii=False)}", flush=True)

    return report


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if not FAULT_FIGURES:
        return
    terminalreporter.section("fault figures")
    for name, figures in FAULT_FIGURES:
        terminalreporter.write_line(f"{name}: {json.dumps(figures, ensure_ascii=False)}")

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

"""A real Courtyard server process for the live tests: migrated and seeded with the demo,
started with ``python -m web.cli serve``, killed and restarted at will."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[3]
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    def __init__(self, tmp_path: Path, *, database_url: str | None = None, message_queue: str | None = None,
                 port: int | None = None, async_mode: str = "threading", threads: int = 64,
                 env: dict[str, str] | None = None):
        self.threads = threads
        self.tmp = tmp_path
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ,
                    "COURTYARD_DATABASE_URL": database_url or f"sqlite:///{tmp_path / 'live.db'}",
                    "COURTYARD_SECRET_KEY": "live-test-secret",
                    "COURTYARD_INSTANCE_PATH": str(tmp_path),
                    "COURTYARD_PLUGIN_ENTRYPOINTS": "0",
                    "COURTYARD_ASYNC_MODE": async_mode,
                    "PYTHONUNBUFFERED": "1", **(env or {})}
        self.env.pop("COURTYARD_MESSAGE_QUEUE", None)
        if message_queue:
            self.env["COURTYARD_MESSAGE_QUEUE"] = message_queue
        self.proc: subprocess.Popen | None = None
        self.log = tmp_path / f"server-{self.port}.log"

    def cli(self, *args: str) -> str:
        out = subprocess.run([PYTHON, "-m", "web.cli", *args], cwd=ROOT, env=self.env, capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        return out.stdout

    def prepare(self) -> dict[str, Any]:
        self.cli("db", "upgrade")
        return json.loads(self.cli("demo", "--json", "--base-url", self.url))

    def start(self) -> "LiveServer":
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([PYTHON, "-m", "web.cli", "serve", "--port", str(self.port),
                                          "--threads", str(self.threads)], cwd=ROOT, env=self.env, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-3000:]}")
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)  # polling a starting process, not synchronising with it
        raise RuntimeError(f"server did not start: {self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def sign_in(self, username: str, password: str = "courtyard-demo") -> requests.Session:
        http = requests.Session()
        page = http.get(self.url + "/sign-in").text
        token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
        response = http.post(self.url + "/sign-in", data={"csrf_token": token, "username": username,
                                                           "password": password}, allow_redirects=False)
        assert response.status_code == 302, response.text[:300]
        return http

    @staticmethod
    def cookie_header(http: requests.Session) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in http.cookies)

    def cookie_for(self, username: str) -> str:
        """Sign in and return the Cookie header (the HTTP session is closed)."""
        with self.sign_in(username) as http:
            return self.cookie_header(http)


def live_session(info: dict[str, Any]) -> dict[str, Any]:
    return next(s for s in info["sessions"] if s["status"] == "live")


def wait_for(predicate, timeout: float = 15.0, message: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)  # polling real processes with a deadline
    raise AssertionError(f"timed out waiting for {message}")

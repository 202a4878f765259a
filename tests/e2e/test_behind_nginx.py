"""Courtyard behind the shipped nginx (deploy/nginx/courtyard.conf): the phone's own
address, not nginx's, is what the join-code limit counts, and only with
``COURTYARD_PROXY_HOPS`` set; the browser's defences are on nginx's answers too.

Phones are told apart by their loopback source address (127.0.0.2, 127.0.0.3: all of
127.0.0.0/8 is this machine)."""

from __future__ import annotations

import http.client
import re
import ssl
import subprocess
import time
from pathlib import Path

import pytest
import socketio

from tests.conftest import nginx_with_shipped_site
from tests.e2e.conftest import free_port, prepare_server

LIMIT = 10  # failed codes per address in the window (plugins/discussion/ratelimit.py)


def nginx_in_front_of(tmp_path: Path, port: int) -> tuple[subprocess.Popen, int]:
    https = free_port()

    def on_loopback(site: str) -> str:
        servers = re.findall(r"    server 127\.0\.0\.1:800\d [^\n]*\n", site)
        assert len(servers) == 4
        site = site.replace("".join(servers), f"    server 127.0.0.1:{port};\n")
        site = site.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{https} ssl http2;")
        return site.replace("listen 80;", f"listen 127.0.0.1:{free_port()};")

    nginx, conf, _ = nginx_with_shipped_site(tmp_path, on_loopback)
    proc = subprocess.Popen([nginx, "-c", str(conf), "-p", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            http.client.HTTPConnection("127.0.0.1", https, timeout=0.5).connect()
            break
        except OSError:
            time.sleep(0.1)
    assert proc.poll() is None, (tmp_path / "nginx.log").read_text()
    return proc, https


def get(port: int, path: str, *, source: str, headers: dict[str, str] | None = None,
        tls: bool = True) -> http.client.HTTPResponse:
    """One GET from ``source`` (a loopback address of its own, as a separate phone)."""
    if tls:
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            "127.0.0.1", port, timeout=10, source_address=(source, 0), context=context)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def guess_until_refused(port: int, *, source: str, headers: dict[str, str] | None = None) -> list[int]:
    return [get(port, f"/j/WRONG{i:03d}", source=source, headers=headers).status for i in range(LIMIT + 1)]


@pytest.fixture
def behind_nginx(tmp_path, request):
    hops = request.param
    server = prepare_server(tmp_path, extra_env={"COURTYARD_PROXY_HOPS": str(hops)})
    server.start()
    nginx = None
    try:
        nginx, https = nginx_in_front_of(tmp_path, server.port)
        yield server, https
    finally:
        if nginx is not None:
            nginx.terminate()
            nginx.wait(10)
        server.stop()


@pytest.mark.parametrize("behind_nginx", [1], indirect=True)
def test_one_guesser_behind_nginx_does_not_lock_out_the_other_phones(behind_nginx):
    server, https = behind_nginx
    statuses = guess_until_refused(https, source="127.0.0.2")
    assert statuses == [404] * LIMIT + [429]
    # a neighbour's phone, through the same nginx: its own count, not the guesser's
    assert get(https, "/j/WRONG999", source="127.0.0.3").status == 404
    live_code = next(s["join_code"] for s in server.demo["sessions"] if s["status"] == "live")
    assert get(https, f"/j/{live_code}", source="127.0.0.3").status in (200, 302)
    # the guesser cannot pretend to be someone else: nginx appends the address it saw
    assert get(https, "/j/WRONG998", source="127.0.0.2", headers={"X-Forwarded-For": "10.9.8.7"}).status == 429


@pytest.mark.parametrize("behind_nginx", [0], indirect=True)
def test_without_proxy_hops_a_forwarded_address_is_not_believed(behind_nginx):
    """Reached directly (no nginx in between), a client that makes up X-Forwarded-For
    addresses still counts as itself."""
    server, _ = behind_nginx
    statuses = [get(server.port, f"/j/WRONG{i:03d}", source="127.0.0.4", tls=False,
                    headers={"X-Forwarded-For": f"10.0.0.{i}"}).status for i in range(LIMIT + 1)]
    assert statuses == [404] * LIMIT + [429]


@pytest.mark.parametrize("behind_nginx", [1], indirect=True)
def test_live_connections_count_the_forwarded_address_too(behind_nginx):
    """The Socket.IO server sits inside ProxyFix: a live join with a wrong code counts
    against the address nginx forwarded (here sent straight to the process, as nginx would)."""
    server, _ = behind_nginx

    def joins(address: str, tries: int) -> list[int]:
        client = socketio.Client(reconnection=False)
        client.connect(server.url, namespaces=["/live"], transports=["polling"],
                       headers={"X-Forwarded-For": address}, wait_timeout=10)
        try:
            return [(client.call("join", {"code": f"WRONG{i:03d}"}, namespace="/live", timeout=10) or {})
                    .get("error", {}).get("status") for i in range(tries)]
        finally:
            client.disconnect()

    assert joins("10.1.1.1", LIMIT + 1) == [404] * LIMIT + [429]
    assert joins("10.2.2.2", 1) == [404]


@pytest.mark.parametrize("behind_nginx", [1], indirect=True)
def test_nginx_answers_carry_the_browsers_defences_once(behind_nginx):
    server, https = behind_nginx
    for path in ("/", "/static/style.css", "/no-such-page"):
        response = get(https, path, source="127.0.0.5")
        headers = response.getheaders()
        for name, value in [("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY"),
                            ("Referrer-Policy", "same-origin")]:
            assert [v for n, v in headers if n.lower() == name.lower()] == [value], (path, headers)
        policies = [v for n, v in headers if n.lower() == "content-security-policy"]
        assert len(policies) == 1 and "frame-ancestors 'none'" in policies[0], (path, policies)
        if path == "/":  # Courtyard's own policy, with the live connection's address
            assert f"wss://127.0.0.1:{https}" in policies[0]

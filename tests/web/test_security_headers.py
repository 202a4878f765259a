"""The browser's defences on every page, cookies that stay on https, and the address of a
client behind the proxy (``COURTYARD_PROXY_HOPS``)."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import pytest

from tests.conftest import PASSWORD, ROOT, World, csrf_from, make_app
from web.config import ConfigError, load_config

HEADERS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin"}
LIMIT = 10  # wrong join codes per address (plugins/discussion/ratelimit.py)


def directives(policy: str) -> dict[str, list[str]]:
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


def assert_defended(response, what: str) -> None:
    for name, value in HEADERS.items():
        assert response.headers.get(name) == value, (what, name, response.headers.get(name))
    assert "camera=()" in response.headers.get("Permissions-Policy", ""), what
    policy = directives(response.headers.get("Content-Security-Policy", ""))
    assert policy.get("script-src") == ["'self'"], (what, policy)
    assert policy.get("object-src") == ["'none'"] and policy.get("base-uri") == ["'none'"], what
    assert policy.get("frame-ancestors") == ["'none'"] and policy.get("form-action") == ["'self'"], what
    assert "'unsafe-inline'" not in " ".join(sum(policy.values(), [])), what


# ------------------------------------------------------------------ every page of the demo


@pytest.fixture
def demo_app(tmp_path):
    from web.demo import seed_demo

    app = make_app(tmp_path)
    with app.app_context():
        info = seed_demo(app)
    return app, info


def get_routes(app, info) -> list[str]:
    live = next(s for s in info["sessions"] if s["status"] == "live")
    values = {"slug": "renfu", "code": live["join_code"], "session_id": live["id"], "token": "no-such-token",
              "filename": "none.css", "receipt": "none"}
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        args = {name: values.get(name, 1) for name in rule.arguments}
        if rule.endpoint == "views.set_language":
            args["code"] = "en"
        with app.test_request_context():
            from flask import url_for

            urls.append(url_for(rule.endpoint, **args))
    return urls


@pytest.mark.parametrize("who", ["anonymous", "admin"])
def test_every_page_of_the_demo_carries_the_policy_and_headers(demo_app, who):
    app, info = demo_app
    client = app.test_client()
    if who == "admin":
        login = next(x for x in info["logins"] if x["community"] == "renfu" and "admin" in x["role"])
        page = client.get("/sign-in")
        assert client.post("/sign-in", data={"csrf_token": csrf_from(page), "username": login["username"],
                                             "password": login["password"]}).status_code == 302
    urls = get_routes(app, info) + ["/static/style.css", "/static/page.js", "/no-such-page"]
    answered = {}
    for url in urls:
        with client.get(url) as response:
            answered[url] = response.status_code
            assert_defended(response, url)
    assert sum(status == 200 for status in answered.values()) >= 25, answered  # 30 anonymous, more as admin
    assert all(status < 500 for status in answered.values()), answered


def test_pages_have_no_inline_script_handler_or_style_attribute():
    """The policy refuses inline script and ``style=``: none may be left in a template."""
    templates = [*(ROOT / "web" / "templates").rglob("*.html"), *(ROOT / "plugins").glob("*/templates/**/*.html"),
                 *(ROOT / "examples").glob("*/*/templates/**/*.html")]
    assert len(templates) > 30
    found = []
    for path in templates:
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>|<style\b|"
                                 r"\son[a-z]+\s*=|\sstyle\s*=|javascript:", text, re.I):
            found.append(f"{path.relative_to(ROOT)}: {match.group(0)}")
    assert found == []


def test_category_colours_come_in_a_nonced_style_block(demo_app):
    app, _ = demo_app
    response = app.test_client().get("/c/renfu")
    page = response.get_data(as_text=True)
    nonce = re.search(r"<style nonce=\"([^\"]+)\">(.*?)</style>", page, re.S)
    assert nonce and "--chip: #" in nonce.group(2)
    assert f"'nonce-{nonce.group(1)}'" in directives(response.headers["Content-Security-Policy"])["style-src"]
    assert re.search(r'class="chip[^"]* c-[0-9a-f]{6}"', page)
    other = app.test_client().get("/c/renfu").get_data(as_text=True)
    assert re.search(r"<style nonce=\"([^\"]+)\"", other).group(1) != nonce.group(1)  # one per response


def test_live_connections_are_allowed_to_this_site_and_the_configured_origins(tmp_path):
    app = make_app(tmp_path, ALLOWED_ORIGINS=["https://wall.example.org"])
    policy = directives(app.test_client().get("/", base_url="https://yishi.example.org").headers[
        "Content-Security-Policy"])
    assert {"'self'", "wss://yishi.example.org", "https://wall.example.org", "wss://wall.example.org"} <= set(
        policy["connect-src"])


# ------------------------------------------------------------------ cookies


def sign_in(client, *, base_url: str, headers: dict[str, str] | None = None) -> list[str]:
    page = client.get("/sign-in", base_url=base_url, headers=headers)
    # a browser sends the page it posts from (Flask-WTF checks it on https)
    headers = {**(headers or {}), "Referer": "https://courtyard.test/sign-in"}
    response = client.post("/sign-in", base_url=base_url, headers=headers, data={
        "csrf_token": csrf_from(page), "username": "renfu-host", "password": PASSWORD})
    assert response.status_code == 302
    return response.headers.get_all("Set-Cookie")


def cookie(cookies: list[str], name: str) -> str:
    return next(c for c in cookies if c.startswith(f"{name}="))


def days_left(set_cookie: str) -> float:
    expires = parsedate_to_datetime(re.search(r"Expires=([^;]+)", set_cookie).group(1))
    return (expires - datetime.now(timezone.utc)).total_seconds() / 86400


def test_sign_in_cookies_over_https_are_secure_httponly_lax_and_last_30_days(app, world):
    cookies = sign_in(app.test_client(), base_url="https://courtyard.test")
    for name in ("session", "remember_token"):
        attributes = [a.strip().lower() for a in cookie(cookies, name).split(";")]
        assert "secure" in attributes and "httponly" in attributes and "samesite=lax" in attributes, (name, attributes)
    assert 29.9 < days_left(cookie(cookies, "remember_token")) <= 30


def test_over_plain_http_cookies_are_not_secure_unless_configured(tmp_path):
    app = make_app(tmp_path)
    World(app)
    assert "Secure" not in cookie(sign_in(app.test_client(), base_url="http://courtyard.test"), "session")
    (tmp_path / "forced").mkdir()
    forced = make_app(tmp_path / "forced", SECURE_COOKIES="1", REMEMBER_DAYS="7")
    World(forced)
    cookies = sign_in(forced.test_client(), base_url="http://courtyard.test")
    assert "Secure" in cookie(cookies, "session") and "Secure" in cookie(cookies, "remember_token")
    assert 6.9 < days_left(cookie(cookies, "remember_token")) <= 7


def test_behind_one_proxy_https_is_known_from_x_forwarded_proto(tmp_path):
    app = make_app(tmp_path, PROXY_HOPS=1)
    World(app)
    cookies = sign_in(app.test_client(), base_url="http://courtyard.test", headers={"X-Forwarded-Proto": "https"})
    assert "Secure" in cookie(cookies, "session")


# ------------------------------------------------------------------ the client's address behind a proxy


def wrong_codes(client, forwarded_for: list[str]) -> list[int]:
    return [client.get(f"/j/WRONG{i:03d}", headers={"X-Forwarded-For": address},
                       environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code
            for i, address in enumerate(forwarded_for)]


def test_behind_one_proxy_each_forwarded_address_has_its_own_limit(tmp_path):
    app = make_app(tmp_path, PROXY_HOPS=1)
    client = app.test_client()
    assert wrong_codes(client, ["203.0.113.7"] * (LIMIT + 1)) == [404] * LIMIT + [429]
    assert wrong_codes(client, ["198.51.100.9"]) == [404]
    # what the client wrote itself comes before what the proxy added: not believed
    assert wrong_codes(client, ["198.51.100.10, 203.0.113.7"]) == [429]


def test_without_proxy_hops_the_forwarded_header_is_ignored(tmp_path):
    client = make_app(tmp_path).test_client()
    statuses = wrong_codes(client, [f"10.0.0.{i}" for i in range(LIMIT + 1)])
    assert statuses == [404] * LIMIT + [429]


@pytest.mark.parametrize("value", ["-1", "two", "1.5", "yes"])
def test_a_wrong_proxy_hops_value_is_refused_with_one_line(value, monkeypatch):
    monkeypatch.setenv("COURTYARD_PROXY_HOPS", value)
    with pytest.raises(ConfigError) as caught:
        load_config({"SECRET_KEY": "x"})
    assert str(caught.value) == ("COURTYARD_PROXY_HOPS must be a whole number of proxies in front of Courtyard, "
                                 f"0 (none) or more, not {value!r}")


def test_proxy_hops_defaults_to_none_and_is_read_from_the_environment(monkeypatch):
    assert load_config({"SECRET_KEY": "x"})["PROXY_HOPS"] == 0
    monkeypatch.setenv("COURTYARD_PROXY_HOPS", "2")
    assert load_config({"SECRET_KEY": "x"})["PROXY_HOPS"] == 2


def test_the_shipped_nginx_forwards_the_address_and_scheme_and_the_guide_sets_one_hop():
    site = (ROOT / "deploy" / "nginx" / "courtyard.conf").read_text(encoding="utf-8")
    for location in re.findall(r"location (?:/socket\.io/|/) \{.*?\n    \}", site, re.S):
        assert "X-Forwarded-For   $proxy_add_x_forwarded_for" in location
        assert "X-Forwarded-Proto $scheme" in location
    assert "add_header X-Frame-Options \"DENY\" always;" in site
    guide = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    assert "COURTYARD_PROXY_HOPS=1" in guide
    assert "COURTYARD_PROXY_HOPS=1" in (ROOT / "deploy" / "courtyard.env.example").read_text(encoding="utf-8")

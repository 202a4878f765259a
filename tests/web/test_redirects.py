"""Redirects that take their target from the request stay on this site, as a browser reads
the ``Location`` header (tabs and newlines removed, a backslash read as a slash)."""

from __future__ import annotations

import re
from urllib.parse import quote, urljoin, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import PASSWORD, csrf_from

SITE = "courtyard.test"

EVIL = [
    "//evil.example/", "///evil.example/", "////evil.example", "/\\evil.example", "\\\\evil.example",
    "/\\/evil.example", "\\/evil.example", "/\t/evil.example/", "\t//evil.example", "/\r\n/evil.example",
    "/\n/evil.example", "/\r/evil.example", " //evil.example", "\x00//evil.example", "/\x00/evil.example",
    "/\x0b/evil.example", "/\x0c/evil.example", "/\x1f/evil.example", "/\x7f/evil.example", "/\x85/evil.example",
    "/\u2028/evil.example", "/\u200b/evil.example", "/\u202e/evil.example",
    "https:evil.example", "https://evil.example", "http:/evil.example", "javascript:alert(1)",
    "HTTPS://evil.example", "//evil.example@courtyard.test", "/%2F%2Fevil.example", "/%2f/evil.example",
    "/%5Cevil.example", "/%09/evil.example", "/%0D%0A/evil.example", "/%252F/evil.example",
    "／／evil.example", "/／evil.example", "/＼evil.example", "＼＼evil.example", "/⁄evil.example",
    "evil.example", "./evil", "", "  ", "/\r\nSet-Cookie: stolen=1",
]

#: a few that must keep working: the pages our own templates send back to
FINE = ["/", "/c/renfu", "/c/renfu/sessions/3?tab=minutes", "/c/人福村", "/motions/1/ballot?x=%2F", "/a//b"]


def browser_location(location: str, base: str) -> str:
    """The URL a browser goes to for this ``Location`` (the WHATWG URL parser's clean-up)."""
    cleaned = location.strip("".join(chr(c) for c in range(0x21)))
    cleaned = re.sub("[\t\r\n]", "", cleaned).replace("\\", "/")
    return urljoin(base, cleaned)


def assert_on_site(response, base: str) -> None:
    assert response.status_code in (301, 302, 303, 307, 308), response.status_code
    for name, value in response.headers.items():
        assert "\r" not in value and "\n" not in value, (name, value)
    assert not response.headers.get_all("Set-Cookie") or all(
        not c.startswith("stolen") for c in response.headers.get_all("Set-Cookie"))
    target = urlsplit(browser_location(response.headers["Location"], base))
    assert target.netloc in ("", SITE), response.headers["Location"]
    assert target.scheme in ("", "http", "https"), response.headers["Location"]


def language_switch(client, target: str):
    return client.get(f"/lang/en?next={quote(target, safe='')}")


def large_text(client, target: str):
    token = csrf_from(client.get("/sign-in"))
    return client.post("/large-text", data={"on": "1", "next": target, "csrf_token": token})


def password_sign_in(client, target: str, world):
    token = csrf_from(client.get("/sign-in"))
    return client.post(f"/sign-in?next={quote(target, safe='')}", data={
        "csrf_token": token, "username": "renfu-host", "password": PASSWORD})


@pytest.mark.parametrize("target", EVIL)
def test_the_language_switch_never_leaves_the_site(client, target):
    assert_on_site(language_switch(client, target), f"http://{SITE}/lang/en")


def test_the_reported_language_switch_goes_home(client):
    response = client.get("/lang/en?next=/%09/evil.example/")
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("target", EVIL)
def test_the_large_text_switch_never_leaves_the_site(client, target):
    assert_on_site(large_text(client, target), f"http://{SITE}/large-text")


@pytest.mark.parametrize("target", EVIL)
def test_signing_in_never_leaves_the_site(app, world, target):
    assert_on_site(password_sign_in(app.test_client(), target, world), f"http://{SITE}/sign-in")


@pytest.mark.parametrize("target", FINE)
def test_a_page_of_the_site_is_kept(client, world, target):
    assert language_switch(client, target).headers["Location"] == quote(target, safe="/?=&%")
    assert large_text(client, target).headers["Location"] == quote(target, safe="/?=&%")


PIECES = ["/", "\\", "\t", "\r", "\n", " ", "\x00", "\x1b", "\x85", "%09", "%0a", "%2F", "%2f", "%5C", "%25",
          "／", "＼", "。", "\u2028", "\u200e", "evil.example", "courtyard.test", ":", "https", "@", "?", "#", ".", "a"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=8).map("".join))
def test_any_mix_of_slashes_controls_and_hosts_stays_on_site(app, target):
    client = app.test_client()
    assert_on_site(language_switch(client, target), f"http://{SITE}/lang/en")
    # the raw query string, not re-encoded: what a link in a chat message would carry
    raw = client.get("/lang/en?next=" + target.replace("#", "%23").replace("&", "%26").replace(" ", "%20")
                     .replace("\t", "%09").replace("\r", "%0D").replace("\n", "%0A"))
    assert_on_site(raw, f"http://{SITE}/lang/en")


def test_a_refused_form_goes_back_only_to_a_page_of_the_site(client):
    """An error after a POST sends the browser back to the page it came from (the
    Referer), where the message is shown; a Referer of another site is not followed."""
    elsewhere = client.post("/large-text", data={"on": "1"}, headers={"Referer": "https://evil.example/x"})
    assert elsewhere.status_code == 400 and "Location" not in elsewhere.headers
    sneaky = client.post("/large-text", data={"on": "1"}, headers={"Referer": f"http://{SITE}/\t/evil.example"})
    assert sneaky.status_code == 400 and "Location" not in sneaky.headers
    ours = client.post("/large-text", data={"on": "1"}, headers={"Referer": f"http://{SITE}/c/renfu?x=1"})
    assert ours.status_code == 302 and ours.headers["Location"] == "/c/renfu?x=1"

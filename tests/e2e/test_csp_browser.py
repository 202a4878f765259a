"""Headless Chromium on the demo under Courtyard's Content-Security-Policy: the main pages
load with no violation reported, and the live page still connects and carries a message."""

from __future__ import annotations

import json
import re
import urllib.request

import pytest

from tests.e2e.conftest import PHONE

pytestmark = pytest.mark.e2e

WATCH = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__violations.push(e.violatedDirective + " " + e.blockedURI + " " + (e.sourceFile || "") + ":" + e.lineNumber);
});
"""


def watched(context):
    """A page whose policy violations (the DOM event and Chromium's console line) are kept."""
    context.add_init_script(WATCH)
    page = context.new_page()
    page.console_lines = []
    page.on("console", lambda msg: page.console_lines.append(msg.text))
    return page


def violations(page) -> list[str]:
    seen = page.evaluate("window.__violations || []")
    return seen + [line for line in page.console_lines if "Content Security Policy" in line]


def api(server, path):
    with urllib.request.urlopen(server.url + path, timeout=10) as r:
        return json.loads(r.read().decode())


def test_the_main_pages_load_without_a_policy_violation(demo_server, chromium_browser):
    live = next(s for s in demo_server.demo["sessions"] if s["status"] == "live")
    scheduled = next(s for s in demo_server.demo["sessions"] if s["status"] == "scheduled")
    motion = api(demo_server, "/api/v1/communities/renfu/motions")[0]["id"]
    pages = ["/", "/c/renfu", "/c/renfu?category=livelihood", scheduled["url"].replace(demo_server.url, ""),
             live["url"].replace(demo_server.url, ""), f"/c/renfu/motions/{motion}", "/c/renfu/motions",
             "/c/renfu/issues", "/c/renfu/courtyard/", "/sign-in", "/join"]
    context = chromium_browser.new_context(**PHONE)
    page = watched(context)
    found = {}
    for path in pages:
        response = page.goto(demo_server.url + path)
        assert response.status == 200, path
        assert "script-src 'self'" in response.headers["content-security-policy"]
        page.wait_for_load_state("networkidle")
        found[path] = violations(page)
        page.console_lines.clear()
    context.close()
    assert found == {path: [] for path in pages}


def test_the_live_page_works_under_the_policy(demo_server, chromium_browser):
    live = next(s for s in demo_server.demo["sessions"] if s["status"] == "live")
    context = chromium_browser.new_context(**PHONE)
    page = watched(context)
    page.goto(live["join_url"])
    page.fill("#guest-name", "守规矩的访客")
    page.click("#guest-form button")
    page.wait_for_selector("#count[data-count]", timeout=15000)
    page.fill("#body", "策略之下也能说话")
    page.click("#send")
    # (a locator, not wait_for_function: that evaluates a string, which the policy refuses)
    page.locator("#messages li.msg:not(.pending) .body", has_text="策略之下也能说话").wait_for(timeout=15000)
    assert violations(page) == []
    context.close()


def test_a_resident_votes_under_the_policy(demo_server, chromium_browser):
    link = next(x["sign_in_url"] for x in demo_server.demo["logins"] if x["name"] == "吴老师")
    motion = next(m["id"] for m in api(demo_server, "/api/v1/communities/renfu/motions") if "村道" in m["title"])
    context = chromium_browser.new_context(**PHONE)
    page = watched(context)
    page.goto(link)
    page.locator("#sign-in-now").click()
    page.wait_for_load_state()
    page.goto(f"{demo_server.url}/c/renfu/motions/{motion}")
    page.locator('.opt[data-option="yes"]').click()
    page.locator("[data-send]").click()
    page.locator("[data-receipt]", has_text=re.compile(r"^[0-9a-f]{64}$")).wait_for(timeout=10000)
    assert violations(page) == []
    context.close()

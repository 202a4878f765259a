"""A resident votes on a phone in the demo: taps yes on the live tea talk's motion (results
shown live), gets a receipt after the server committed; a representative ranks three
projects by tapping them in order; a closed motion's result page and receipts show."""

from __future__ import annotations

import json
import re
import urllib.request

import pytest

from tests.e2e.conftest import PHONE

pytestmark = pytest.mark.e2e


def api(server, path):
    with urllib.request.urlopen(server.url + path, timeout=10) as r:
        return json.loads(r.read().decode())


def sign_in(browser, server, name):
    link = next(x["sign_in_url"] for x in server.demo["logins"] if x["name"] == name)
    context = browser.new_context(**PHONE)
    page = context.new_page()
    page.goto(link)
    page.locator("#sign-in-now").click()
    page.wait_for_load_state()
    return context, page


def motion_id(server, slug, title_part):
    return next(m["id"] for m in api(server, f"/api/v1/communities/{slug}/motions") if title_part in m["title"])


def test_vote_yes_on_a_phone_and_see_the_receipt(demo_server, chromium_browser):
    mid = motion_id(demo_server, "renfu", "村道")
    context, page = sign_in(chromium_browser, demo_server, "吴老师")
    page.goto(f"{demo_server.url}/c/renfu/motions/{mid}")
    yes = page.locator('.opt[data-option="yes"]')
    assert yes.bounding_box()["height"] >= 60  # a big button
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    yes.click()
    assert yes.get_attribute("aria-pressed") == "true"
    page.locator("[data-send]").click()
    receipt = page.locator("[data-receipt]")
    # (locators, not wait_for_function: that evaluates a string, which the page's policy refuses)
    page.locator("[data-receipt]", has_text=re.compile(r"^[0-9a-f]{64}$")).wait_for(timeout=10000)
    assert re.fullmatch(r"[0-9a-f]{64}", receipt.inner_text())
    # the running count (results shown live) reached the page over the socket
    page.locator("[data-tally]", has_text="yes: 3").wait_for(timeout=10000)
    # after a reload the server shows the same vote and receipt
    kept = receipt.inner_text()
    page.reload()
    assert page.locator("[data-receipt]").inner_text() == kept
    context.close()


def test_rank_three_projects_by_tapping_in_order(demo_server, chromium_browser):
    mid = motion_id(demo_server, "tuxin", "民生实事")
    context, page = sign_in(chromium_browser, demo_server, "孙阿姨")
    page.goto(f"{demo_server.url}/c/tuxin/motions/{mid}")
    order = ["9栋加装电梯补贴代办", "老旧小区水管改造", "芙蓉中路三段施划停车位"]
    for n, option in enumerate(order, start=1):
        button = page.locator(f'.opt[data-option="{option}"]')
        button.click()
        assert button.locator(".rank").inner_text() == str(n)
    page.locator("[data-send]").click()
    # (locators, not wait_for_function: that evaluates a string, which the page's policy refuses)
    page.locator("[data-receipt]", has_text=re.compile(r"^[0-9a-f]{64}$")).wait_for(timeout=10000)
    mine = page.evaluate(f"fetch('/api/v1/communities/tuxin/motions/{mid}/my-ballot').then(r => r.json())")
    assert mine["mine"]["choice"] == order
    context.close()


def test_closed_motion_results_and_receipts(demo_server, chromium_browser):
    mid = motion_id(demo_server, "renfu", "垃圾分类")
    context = chromium_browser.new_context(**PHONE)
    page = context.new_page()
    page.goto(f"{demo_server.url}/c/renfu/motions/{mid}/results")
    assert page.locator("svg.chart").is_visible()
    assert page.locator("[data-figures] td").all_inner_texts() == ["3", "2", "1"]
    assert page.locator("[data-winner]").inner_text() == "村委会东侧"
    page.goto(f"{demo_server.url}/c/renfu/motions/{mid}/receipts")
    receipts = page.locator("[data-ballots] td.receipt").all_inner_texts()
    assert len(receipts) == 6
    page.fill("#receipt", receipts[0])
    page.locator("form.card button").click()
    assert page.locator("[data-found]").is_visible()
    context.close()

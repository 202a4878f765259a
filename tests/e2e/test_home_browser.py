"""A phone opens the demo in Chromium: Chinese first, English one tap away, and a
resident signs in with the link from their sign-in card."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import PHONE

pytestmark = pytest.mark.e2e


def test_home_on_a_phone_in_chinese_then_english(demo_server, chromium_browser, tmp_path):
    context = chromium_browser.new_context(**PHONE)
    page = context.new_page()
    page.goto(demo_server.url + "/")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    communities = page.locator("section.community h2")
    assert communities.all_inner_texts() == ["人福村", "涂新社区"]
    renfu = page.locator('section[data-community="renfu"]')
    assert renfu.locator(".format").first.inner_text() == "海棠小院茶话会"
    assert page.locator('section[data-community="tuxin"]').get_by_text("民声金话筒").first.is_visible()
    assert page.get_by_role("link", name="登录").is_visible()
    # nothing overflows a phone screen
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    # the tap targets are large
    box = page.get_by_role("link", name="登录").bounding_box()
    assert box["height"] >= 44
    page.screenshot(path=str(tmp_path / "home-zh.png"), full_page=True)

    page.get_by_role("link", name="English").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("section.community h2").all_inner_texts() == ["Renfu Village", "Tuxin Community"]
    assert page.get_by_text("Upcoming sessions").first.is_visible()
    assert page.locator('section[data-community="renfu"] .format').first.inner_text() == "Courtyard tea talk"
    page.get_by_role("button", name="Large text").click()
    page.wait_for_load_state()
    assert "large-text" in page.locator("body").get_attribute("class")
    context.close()


def test_resident_signs_in_with_a_sign_in_link(demo_server, chromium_browser):
    link = next(x["sign_in_url"] for x in demo_server.demo["logins"] if x["name"] == "王阿婆")
    context = chromium_browser.new_context(**PHONE)
    page = context.new_page()
    page.goto(link)
    page.get_by_role("button", name="我要登录").click()
    page.wait_for_load_state()
    assert page.url.endswith("/c/renfu")
    assert "已登录：王阿婆" in page.locator(".whoami").inner_text()
    # the card works once
    other = chromium_browser.new_context(**PHONE).new_page()
    other.goto(link)
    other.get_by_role("button", name="我要登录").click()
    other.wait_for_load_state()
    assert "登录链接已失效" in other.content()
    context.close()


def test_healthz_and_openapi_from_the_real_server(demo_server):
    import json
    from urllib.request import urlopen

    with urlopen(demo_server.url + "/healthz", timeout=5) as r:
        assert json.load(r) == {"status": "ok"}
    with urlopen(demo_server.url + "/api/openapi.json", timeout=5) as r:
        assert "/api/v1/communities/{slug}/sessions" in json.load(r)["paths"]

"""Headless Chromium, the real socket.io browser client, a real server: two phones and a
host join by code, talk, raise hands, get the floor, lose the network for a few seconds
and come back with nothing missing."""

from __future__ import annotations

import re

import pytest

from tests.plugins.discussion.live_server import LiveServer, live_session

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
PHONE = {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True,
         "device_scale_factor": 2}


@pytest.fixture
def server(tmp_path):
    srv = LiveServer(tmp_path)
    info = srv.prepare()
    srv.start()
    yield srv, info
    srv.kill()


@pytest.fixture
def browser(chromium_browser):
    """The session's one Chromium (Playwright's sync API allows one driver per process)."""
    return chromium_browser


def bodies(page) -> list[str]:
    return page.locator("#messages li.msg:not(.pending) .body").all_text_contents()


def send(page, text: str) -> None:
    page.fill("#body", text)
    page.click("#send")


def test_two_phones_and_a_host_hold_a_live_session(server, browser):
    srv, info = server
    session = live_session(info)
    code = session["join_code"]
    resident_link = next(x["sign_in_url"] for x in info["logins"] if x["name"] == "王阿婆")

    host_ctx = browser.new_context(viewport={"width": 1024, "height": 800}, locale="zh-CN")
    host = host_ctx.new_page()
    host.goto(srv.url + "/sign-in")
    host.fill("input[name=username]", "renfu-host")
    host.fill("input[name=password]", "courtyard-demo")
    host.click("button[type=submit]:not(.chip)")
    host.goto(f"{srv.url}/j/{code}")
    host.wait_for_selector("#host:not([hidden])")

    a_ctx = browser.new_context(**PHONE)  # a resident, signed in with her one-time link
    a = a_ctx.new_page()
    a.goto(resident_link)
    a.click("main button[type=submit]")
    a.goto(f"{srv.url}/join")
    a.fill("#code", code.lower())
    a.click("main button[type=submit]")
    a.wait_for_url(re.compile(r"/live/"))

    b_ctx = browser.new_context(**PHONE)  # a guest who scanned the QR code
    b = b_ctx.new_page()
    b.goto(session["join_url"])
    b.fill("#guest-name", "路过的李老师")
    b.click("#guest-form button")

    for page in (host, a, b):
        page.wait_for_selector('#count[data-count="3"]')
    assert not b.is_visible("#guest-form") and not a.is_visible("#host") and not b.is_visible("#host")
    assert sorted(host.locator("#present li.person").all_inner_texts()) != []

    # talk: text is text, in any script
    tricky = "<img src=x onerror=alert(1)> javascript:alert(1) ئۇيغۇرچە مرحبا 👍"
    send(a, tricky)
    send(b, "我是访客，也想说两句")
    for page in (host, a, b):
        # locators, not wait_for_function: that evaluates a string, which the page's policy refuses
        page.locator("#messages li.msg:not(.pending)").nth(1).wait_for()
        assert bodies(page)[-2:] == [tricky, "我是访客，也想说两句"]
        assert page.locator("#messages img").count() == 0

    # a reply
    a.locator("#messages li.msg", has_text="我是访客").locator("button.reply").click()
    send(a, "欢迎欢迎")
    host.wait_for_selector("#messages li.msg .quote")

    # raise a hand; the host gives the floor with a countdown everyone sees
    b.click("#hand")
    host.locator("#queue li.queued").filter(has_text="路过的李老师").wait_for()
    host.select_option("#seconds", "120")
    host.locator("#queue li.queued").filter(has_text="路过的李老师").locator("button.give").click()
    for page in (host, a, b):
        page.wait_for_selector("#floor.active")
        page.wait_for_selector("#countdown:not([hidden])")
    assert "路过的李老师" in a.inner_text("#floor-who")
    send(b, "我说完了，谢谢")
    a.locator("#messages li.msg.from-floor").filter(has_text="我说完了").wait_for()
    host.click("#revoke")
    a.wait_for_selector("#floor:not(.active)")

    # the host moves the agenda and pins an announcement
    host.locator("#agenda button").nth(1).click()
    host.fill("#pin-text", "请文明发言")
    host.click("#pin-form button[type=submit]")
    for page in (a, b):
        page.wait_for_selector("#pinned:not([hidden])")
        assert page.inner_text("#pinned") == "请文明发言"
        assert "今年先办哪件事" in page.inner_text("#agenda-now")

    # phone A loses the network for a few seconds while the discussion goes on
    a_ctx.set_offline(True)
    send(host, "断网期间主持人说的")
    send(b, "断网期间访客说的")
    send(a, "我在断网时写的")
    for page in (host, b):
        page.locator("#messages li.msg:not(.pending) .body").filter(has_text="断网期间访客说的").wait_for()
    a.wait_for_timeout(3000)  # the scenario: a few seconds without network
    assert "我在断网时写的" not in bodies(host)  # really offline: it waits in A's outbox
    assert a.evaluate("window.courtyardLive.outbox.length") == 1
    a_ctx.set_offline(False)
    expected = ["断网期间主持人说的", "断网期间访客说的", "我在断网时写的"]
    for page in (host, a, b):
        for text in expected:
            page.locator("#messages li.msg:not(.pending) .body", has_text=text).first.wait_for(timeout=30000)
    for page in (host, a, b):
        got = bodies(page)
        for text in expected + [tricky, "欢迎欢迎"]:
            assert got.count(text) == 1, (text, got)
        assert page.evaluate("window.courtyardLive.outbox.length") == 0
    seqs = {page.get_attribute("#live", "data-seq") for page in (host, a, b)}
    assert len(seqs) == 1

    # the host closes the session; the minutes have it all
    host.click("#close")
    for page in (a, b):
        page.wait_for_selector("#closed:not([hidden])")
    minutes = host_ctx.request.get(f"{srv.url}/c/renfu/sessions/{session['id']}/minutes.json").json()
    said = [d["body"] for d in minutes["discussion"]]
    assert said.count("我在断网时写的") == 1 and tricky in said
    assert {x["name"] for x in minutes["attendance"]} >= {"李月昌", "王阿婆", "路过的李老师"}
    assert [f["name"] for f in minutes["floor"]] == ["路过的李老师"]
    for ctx in (host_ctx, a_ctx, b_ctx):
        ctx.close()

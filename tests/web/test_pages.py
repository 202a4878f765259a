"""Pages residents see: both languages, large text, sign-in by password and by link."""

from __future__ import annotations

import re
from datetime import timedelta

from core.db import session_scope, utcnow
from core.models import Member
from core.services import sessions as ss
from tests.conftest import csrf_from


def schedule(app, world, **kw):
    cy = app.extensions["courtyard"]
    with session_scope(cy.sessionmaker) as db:
        from core.services.access import community_by_slug

        args = dict(format_key="courtyard_talk", title="5G进万家，我们怎么用好？", venue="张师傅家小院",
                    starts_at=utcnow() + timedelta(days=2), status="scheduled", host_id=world.ids["host"])
        args.update(kw)
        s = ss.create_session(db, actor=None, catalog=cy.catalog, community=community_by_slug(db, "renfu"), **args)
        return s.id, s.join_code


def test_home_is_chinese_by_default_with_a_switch_to_english(app, client, world):
    schedule(app, world)
    page = client.get("/").get_data(as_text=True)
    assert '<html lang="zh-CN">' in page
    assert "人福村" in page and "近期议事会" in page and "海棠小院茶话会" in page and "5G进万家" in page
    switched = client.get("/lang/en?next=/", follow_redirects=True).get_data(as_text=True)
    assert '<html lang="en">' in switched
    assert "Renfu Village" in switched and "Upcoming sessions" in switched and "Courtyard tea talk" in switched
    assert "中文" in switched  # the way back


def test_a_members_language_follows_them(app, client, world):
    world.login(client, "host")
    client.get("/lang/en")
    other_device = app.test_client()
    world.login(other_device, "host")
    assert '<html lang="en">' in other_device.get("/").get_data(as_text=True)


def test_large_text_setting(app, client, world):
    page = client.get("/")
    assert 'class="large-text"' not in page.get_data(as_text=True)
    client.post("/large-text", data={"on": "1", "next": "/", "csrf_token": csrf_from(page)})
    assert 'class="large-text"' in client.get("/").get_data(as_text=True)


def test_forms_without_csrf_are_refused(client, world):
    r = client.post("/large-text", data={"on": "1"})
    assert r.status_code == 400
    assert "class=\"large-text\"" not in client.get("/").get_data(as_text=True)


def test_password_sign_in_and_wrong_password(app, client, world):
    page = client.get("/sign-in")
    r = client.post("/sign-in", data={"csrf_token": csrf_from(page), "username": "renfu-admin", "password": "nope"})
    assert r.status_code == 401 and "用户名或密码不对" in r.get_data(as_text=True)
    world.login(client, "admin")
    assert "已登录：计菲菲" in client.get("/").get_data(as_text=True)


def test_grid_head_prints_a_sign_in_card_and_the_resident_signs_in_once(app, client, world):
    world.login(client, "grid_head")
    listing = client.get("/c/renfu/residents").get_data(as_text=True)
    assert "王阿婆" in listing and "陈阿姨" not in listing  # 陈阿姨 lives in the other grid
    card = client.post(f"/c/renfu/members/{world.ids['resident']}/sign-in-link",
                       data={"csrf_token": csrf_from(client.get("/c/renfu/residents"))})
    text = card.get_data(as_text=True)
    assert card.status_code == 200 and "<svg" in text and "王阿婆 的登录卡" in text
    link = re.search(r'href="(http://courtyard\.test/s/[^"]+)"', text).group(1)
    path = link.replace("http://courtyard.test", "")
    grandma = app.test_client()
    landing = grandma.get(path)
    assert "我要登录" in landing.get_data(as_text=True)
    r = grandma.post(path, data={"csrf_token": csrf_from(landing)})
    assert r.status_code == 302
    assert "已登录：王阿婆" in grandma.get("/").get_data(as_text=True)
    again = app.test_client()
    r = again.post(path, data={"csrf_token": csrf_from(again.get(path))})
    assert r.status_code == 403 and "登录链接已失效" in r.get_data(as_text=True)


def test_grid_head_cannot_print_cards_for_another_grid(app, client, world):
    world.login(client, "grid_head")
    r = client.post(f"/c/renfu/members/{world.ids['other_resident']}/sign-in-link",
                    data={"csrf_token": csrf_from(client.get("/"))})
    assert r.status_code == 403


def test_session_page_shows_join_code_and_qr_to_the_host_only(app, client, world):
    session_id, code = schedule(app, world)
    public = client.get(f"/c/renfu/sessions/{session_id}").get_data(as_text=True)
    assert code not in public and "<svg" not in public  # the code is for the community, not strangers
    world.login(client, "resident")
    assert code in client.get(f"/c/renfu/sessions/{session_id}").get_data(as_text=True)
    world.login(client, "host")
    hosted = client.get(f"/c/renfu/sessions/{session_id}").get_data(as_text=True)
    assert "<svg" in hosted and "张师傅家小院" in hosted


def test_text_is_shown_as_text(app, client, world):
    session_id, _ = schedule(app, world, title='<script>alert("x")</script>议题')
    page = client.get(f"/c/renfu/sessions/{session_id}").get_data(as_text=True)
    assert "<script>alert" not in page and "&lt;script&gt;" in page


def test_join_by_code(app, client, world):
    session_id, code = schedule(app, world)
    r = client.get(f"/join?code={code.lower()}")
    assert r.status_code == 302
    assert client.get("/join?code=ZZZZZZZZ").status_code == 404


def test_admin_turns_a_builtin_plugin_off_for_one_community(app, client, world):
    from tests.conftest import World

    World(app, slug="tuxin")
    world.login(client, "admin")
    page = client.get("/c/renfu/admin/plugins")
    assert page.status_code == 200 and "categories" in page.get_data(as_text=True)
    client.post("/c/renfu/admin/plugins", data={"plugin": "categories", "enabled": "0", "csrf_token": csrf_from(page)})
    assert client.get("/api/v1/communities/renfu/categories").json == []
    assert len(client.get("/api/v1/communities/tuxin/categories").json) == 5
    resident = app.test_client()
    world.login(resident, "resident2")
    r = resident.post("/c/renfu/admin/plugins", data={"plugin": "categories", "enabled": "1",
                                                     "csrf_token": csrf_from(resident.get("/"))})
    assert r.status_code == 403
    assert client.get("/api/v1/communities/renfu/categories").json == []


def test_unexpected_pages_are_clear(client):
    r = client.get("/c/nowhere")
    assert r.status_code == 404 and "没有这个社区" in r.get_data(as_text=True)


def test_plugin_pages_are_linked_from_the_community_page_where_enabled(app, client, world):
    page = client.get("/c/renfu").get_data(as_text=True)
    assert "民情诉求" in page and "海棠小院排班" in page
    world.login(client, "admin")
    client.post("/c/renfu/admin/plugins", data={"plugin": "issues", "enabled": "0",
                                                "csrf_token": csrf_from(client.get("/c/renfu/admin/plugins"))})
    page = client.get("/c/renfu").get_data(as_text=True)
    assert "民情诉求" not in page and "海棠小院排班" in page

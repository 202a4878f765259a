"""Who may sign in as whom: sign-in links only for residents one looks after (staff roles
only from an admin), every link on record for the admins, links used once even when
redeemed at the same instant, join codes kept from strangers, and password guessing
slowed down per account and per address without locking the owner out for long."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest

from core.db import session_scope, utcnow
from core.models import Member
from core.models.member import Role
from core.services import auth as auth_service
from core.services import communities as cs
from core.services import sessions as ss
from core.services.access import community_by_slug
from tests.conftest import PASSWORD, Clock, World, csrf_from, make_app


def api_post(client, world, path, body):
    return client.post(path, json=body, headers=world.api_headers(client))


def add_member(app, world, name, roles, place="unit", username=None):
    """A member living in the grid head's grid (under ``place``) holding ``roles``."""
    cy = app.extensions["courtyard"]
    with session_scope(cy.sessionmaker) as db:
        from core.models import Place

        c = community_by_slug(db, world.slug)
        home = db.get(Place, world.place_ids[place])
        m = cs.add_member(db, actor=None, community=c, display_name=name, username=username,
                          password=PASSWORD if username else None, place=home,
                          roles=[(r, home if r in (Role.RESIDENT, Role.UNIT_HEAD, Role.BUILDING_HEAD) else None)
                                 for r in roles])
        return m.id


# ---------------------------------------------------------------- hole 1: who gets a link


@pytest.mark.parametrize("target", ["host", "unit_head", "department", "moderator", "host_and_resident"])
def test_a_grid_head_gets_no_link_for_a_member_holding_a_role(app, client, world, target):
    """The probe: renfu-grid asked for a link for the host (who lives in the grid) and got one."""
    roles = {"host": [Role.HOST], "unit_head": [Role.UNIT_HEAD], "department": [Role.DEPARTMENT],
             "moderator": [Role.MODERATOR], "host_and_resident": [Role.HOST, Role.RESIDENT]}[target]
    member_id = world.ids["host"] if target == "host" else add_member(app, world, "有角色的人", roles)
    world.login(client, "grid_head")
    r = api_post(client, world, "/api/v1/communities/renfu/sign-in-links", {"member_id": member_id})
    assert r.status_code == 403, r.get_json()
    assert "url" not in r.get_json()
    page = client.post(f"/c/renfu/members/{member_id}/sign-in-link",
                       data={"csrf_token": csrf_from(client.get("/c/renfu/residents"))})
    assert page.status_code == 403 and "/s/" not in page.get_data(as_text=True)


def test_a_moderator_gets_no_link_for_the_host_but_an_admin_does(app, client, world):
    world.login(client, "moderator")
    r = api_post(client, world, "/api/v1/communities/renfu/sign-in-links", {"member_id": world.ids["host"]})
    assert r.status_code == 403
    r = api_post(client, world, "/api/v1/communities/renfu/sign-in-links", {"member_id": world.ids["resident"]})
    assert r.status_code == 201
    admin = app.test_client()
    world.login(admin, "admin")
    r = api_post(admin, world, "/api/v1/communities/renfu/sign-in-links", {"member_id": world.ids["host"]})
    assert r.status_code == 201 and "/s/" in r.get_json()["url"]


def test_a_grid_head_still_gets_links_for_plain_residents_of_the_grid(app, client, world):
    world.login(client, "grid_head")
    r = api_post(client, world, "/api/v1/communities/renfu/sign-in-links", {"member_id": world.ids["resident"]})
    assert r.status_code == 201
    grandma = app.test_client()
    path = r.get_json()["url"].replace("http://courtyard.test", "")
    assert grandma.post(path, data={"csrf_token": csrf_from(grandma.get(path))}).status_code == 302
    r = api_post(client, world, "/api/v1/communities/renfu/sign-in-links", {"member_id": world.ids["other_resident"]})
    assert r.status_code == 403


def test_residents_i_look_after_lists_no_member_holding_a_role(app, client, world):
    add_member(app, world, "楼里的单元长", [Role.UNIT_HEAD])
    world.login(client, "grid_head")
    page = client.get("/c/renfu/residents").get_data(as_text=True)
    assert "王阿婆" in page
    assert "李月昌" not in page and "楼里的单元长" not in page  # the host and a unit head live in the grid


def test_a_link_made_before_the_resident_became_host_no_longer_signs_in(app, client, world):
    world.login(client, "grid_head")
    r = api_post(client, world, "/api/v1/communities/renfu/sign-in-links", {"member_id": world.ids["resident"]})
    path = r.get_json()["url"].replace("http://courtyard.test", "")
    cy = app.extensions["courtyard"]
    with session_scope(cy.sessionmaker) as db:
        from core.models import RoleAssignment

        db.add(RoleAssignment(member_id=world.ids["resident"], role=Role.HOST.value, place_id=None))
    other = app.test_client()
    r = other.post(path, data={"csrf_token": csrf_from(other.get(path))})
    assert r.status_code == 403 and "王阿婆" not in other.get("/").get_data(as_text=True)


def test_admins_see_every_link_issued_who_for_whom_when_and_whether_used(app, client, world):
    world.login(client, "grid_head")
    made = api_post(client, world, "/api/v1/communities/renfu/sign-in-links", {"member_id": world.ids["resident"]})
    path = made.get_json()["url"].replace("http://courtyard.test", "")
    api_post(client, world, "/api/v1/communities/renfu/sign-in-links", {"member_id": world.ids["resident"]})
    grandma = app.test_client()
    grandma.post(path, data={"csrf_token": csrf_from(grandma.get(path))})

    admin = app.test_client()
    world.login(admin, "admin")
    links = admin.get("/api/v1/communities/renfu/sign-in-links")
    assert links.status_code == 200
    rows = [x for x in links.get_json() if x["member_id"] == world.ids["resident"] and x["issued_by_id"]]
    assert len(rows) == 2
    assert {x["issued_by_id"] for x in rows} == {world.ids["grid_head"]}
    assert {x["issued_by_name"] for x in rows} == {"沈网格长"} and {x["member_name"] for x in rows} == {"王阿婆"}
    assert sorted(x["state"] for x in rows) == ["open", "used"]
    assert all(x["created_at"] and x["expires_at"] for x in rows)
    assert sum(1 for x in rows if x["used_at"]) == 1

    page = admin.get("/c/renfu/admin/sign-in-links").get_data(as_text=True)
    assert page.count('data-state="used"') >= 1 and "沈网格长" in page and "王阿婆" in page
    assert "/c/renfu/admin/sign-in-links" in admin.get("/c/renfu").get_data(as_text=True)

    for role in ("grid_head", "moderator", "host"):
        other = app.test_client()
        world.login(other, role)
        assert other.get("/api/v1/communities/renfu/sign-in-links").status_code == 403
        assert other.get("/c/renfu/admin/sign-in-links").status_code == 403
    assert app.test_client().get("/api/v1/communities/renfu/sign-in-links").status_code == 401
    stranger = app.test_client()
    World(app, "tuxin").login(stranger, "admin")
    assert stranger.get("/api/v1/communities/renfu/sign-in-links").status_code == 403


def test_the_issued_links_endpoint_is_in_the_openapi_document(app, client):
    spec = client.get("/api/openapi.json").get_json()
    op = spec["paths"]["/api/v1/communities/{slug}/sign-in-links"]
    assert "get" in op and "post" in op
    assert "admin" in op["get"]["summary"]
    assert any(p["name"] == "limit" and p["in"] == "query" for p in op["get"].get("parameters", []))


def test_the_record_of_issued_links_is_read_a_page_at_a_time(app, client, world):
    world.login(client, "grid_head")
    for _ in range(3):
        api_post(client, world, "/api/v1/communities/renfu/sign-in-links", {"member_id": world.ids["resident"]})
    admin = app.test_client()
    world.login(admin, "admin")
    url = "/api/v1/communities/renfu/sign-in-links"
    assert len(admin.get(url).get_json()) >= 3
    assert len(admin.get(f"{url}?limit=2").get_json()) == 2  # before: every link, whatever was asked
    for bad in ("0", "501", "x", str(2**63)):
        r = admin.get(f"{url}?limit={bad}")
        assert r.status_code == 400 and "limit" in r.get_json()["error"]["fields"]
    assert admin.get("/c/renfu/admin/sign-in-links?limit=2").get_data(as_text=True).count("data-state=") == 2


# ---------------------------------------------------------------- hole 2: one-time links


def _redeem_at_once(app, token: str, n: int = 10) -> list[int]:
    """``n`` phones press "sign in" on one link at the same instant; their status codes."""
    clients = [app.test_client() for _ in range(n)]
    forms = [csrf_from(c.get(f"/s/{token}")) for c in clients]
    barrier = threading.Barrier(n)
    codes: list[int] = [0] * n

    def press(i: int) -> None:
        barrier.wait()
        codes[i] = clients[i].post(f"/s/{token}", data={"csrf_token": forms[i]}).status_code

    threads = [threading.Thread(target=press, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return codes


def _one_link(app, world) -> str:
    cy = app.extensions["courtyard"]
    with session_scope(cy.sessionmaker) as db:
        return auth_service.issue_sign_in_token(db, actor=None, member=db.get(Member, world.ids["resident"]))


@pytest.mark.parametrize("rounds", [3])
def test_ten_simultaneous_redemptions_sign_in_once_on_sqlite(app, world, rounds):
    for _ in range(rounds):
        codes = _redeem_at_once(app, _one_link(app, world))
        assert sorted(codes) == [302] + [403] * 9, codes


def test_ten_simultaneous_redemptions_sign_in_once_on_postgres(tmp_path, fresh_postgres):
    app = make_app(tmp_path, DATABASE_URL=fresh_postgres)
    try:
        world = World(app)
        for _ in range(3):
            codes = _redeem_at_once(app, _one_link(app, world))
            assert sorted(codes) == [302] + [403] * 9, codes
    finally:
        app.extensions["courtyard"].engine.dispose()


# ---------------------------------------------------------------- hole 11: join codes


def _schedule(app, slug="renfu"):
    cy = app.extensions["courtyard"]
    with session_scope(cy.sessionmaker) as db:
        s = ss.create_session(db, actor=None, catalog=cy.catalog, community=community_by_slug(db, slug),
                              format_key="courtyard_talk", title="5G进万家", venue="张师傅家小院",
                              starts_at=utcnow() + timedelta(days=2), status="scheduled")
        return s.id, s.join_code


def test_join_codes_are_not_listed_to_strangers(app, client, world):
    session_id, code = _schedule(app)
    assert code
    anonymous = client.get("/api/v1/communities/renfu/sessions").get_json()
    assert anonymous and all(x["join_code"] is None for x in anonymous)
    assert client.get(f"/api/v1/communities/renfu/sessions/{session_id}").get_json()["join_code"] is None
    for path in ("/c/renfu", f"/c/renfu/sessions/{session_id}", "/", "/c/renfu/calendar.ics"):
        assert code not in client.get(path).get_data(as_text=True), path

    outsider = app.test_client()
    World(app, "tuxin").login(outsider, "admin")
    assert all(x["join_code"] is None for x in outsider.get("/api/v1/communities/renfu/sessions").get_json())
    assert code not in outsider.get(f"/c/renfu/sessions/{session_id}").get_data(as_text=True)

    for role in ("resident", "host", "admin"):
        member = app.test_client()
        world.login(member, role)
        listed = member.get("/api/v1/communities/renfu/sessions").get_json()
        assert [x["join_code"] for x in listed if x["id"] == session_id] == [code], role
        assert code in member.get(f"/c/renfu/sessions/{session_id}").get_data(as_text=True), role


def test_the_schema_says_who_sees_a_join_code(client):
    spec = client.get("/api/openapi.json").get_json()
    assert "members of the community" in spec["components"]["schemas"]["Session"]["properties"]["join_code"][
        "description"]


# ---------------------------------------------------------------- hole 12: password guessing


def _sign_in(client, username, password, address):
    page = client.get("/sign-in", environ_base={"REMOTE_ADDR": address})
    return client.post("/sign-in", data={"csrf_token": csrf_from(page), "username": username, "password": password},
                       environ_base={"REMOTE_ADDR": address})


@pytest.fixture
def guarded(tmp_path):
    clock = Clock(utcnow())
    app = make_app(tmp_path, COURTYARD_CLOCK=clock)
    return app, World(app), clock


def test_thirty_wrong_passwords_get_429_with_retry_after_and_a_translated_message(guarded):
    app, world, clock = guarded
    attacker = app.test_client()
    codes = [_sign_in(attacker, "renfu-admin", f"guess-{i}", "10.0.0.66").status_code for i in range(30)]
    assert codes[:5] == [401] * 5 and codes[5:] == [429] * 25
    r = _sign_in(attacker, "renfu-admin", PASSWORD, "10.0.0.66")  # even the right one waits
    assert r.status_code == 429
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    assert "密码错误次数太多" in r.get_data(as_text=True)
    attacker.get("/lang/en")
    r = _sign_in(attacker, "renfu-admin", "x", "10.0.0.66")
    assert r.status_code == 429 and "Too many wrong passwords" in r.get_data(as_text=True)


def test_the_owner_is_locked_out_for_a_few_minutes_at_most(guarded):
    app, world, clock = guarded
    attacker = app.test_client()
    # many addresses, one account: the per-account limit stops them
    codes = [_sign_in(attacker, "renfu-admin", "guess", f"10.1.{i}.1").status_code for i in range(40)]
    assert codes.count(401) == 30 and codes.count(429) == 10
    owner = app.test_client()
    r = _sign_in(owner, "renfu-admin", PASSWORD, "192.168.1.5")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) <= 300
    clock.advance(seconds=int(r.headers["Retry-After"]) + 1)
    assert _sign_in(owner, "renfu-admin", PASSWORD, "192.168.1.5").status_code == 302
    # other accounts were never held up
    assert _sign_in(app.test_client(), "renfu-host", PASSWORD, "10.1.3.1").status_code == 302


def test_a_one_address_guesser_waits_a_minute_and_the_owner_elsewhere_is_not_held_up(guarded):
    app, world, clock = guarded
    attacker = app.test_client()
    for i in range(6):
        _sign_in(attacker, "renfu-host", "guess", "10.0.0.9")
    assert _sign_in(attacker, "renfu-host", PASSWORD, "10.0.0.9").status_code == 429
    assert _sign_in(app.test_client(), "renfu-host", PASSWORD, "192.168.1.5").status_code == 302
    clock.advance(seconds=61)
    assert _sign_in(attacker, "renfu-host", PASSWORD, "10.0.0.9").status_code == 302


def test_one_address_guessing_as_fast_as_it_may_never_locks_the_owner_out(guarded):
    """One address may fail 5 times a minute on an account: over the account's 5-minute
    window that is 25 failures, so the account-wide limit must stand above it, or a single
    guesser keeps the owner out for good (before: from the 4th minute on, for as long as
    the guesser kept going)."""
    app, world, clock = guarded
    attacker = app.test_client()
    refused_owner = []
    for second in range(0, 900, 5):
        _sign_in(attacker, "renfu-host", "guess", "10.0.0.9")
        if second % 60 == 30:
            r = _sign_in(app.test_client(), "renfu-host", PASSWORD, "192.168.1.5")
            if r.status_code != 302:
                refused_owner.append(second)
        clock.advance(seconds=5)
    assert refused_owner == []


def test_one_address_spraying_many_accounts_is_stopped(guarded):
    app, world, clock = guarded
    attacker = app.test_client()
    codes = [_sign_in(attacker, f"user-{i}", "guess", "10.0.0.77").status_code for i in range(60)]
    assert codes.count(401) == 50 and codes[50:] == [429] * 10
    assert _sign_in(app.test_client(), "renfu-admin", PASSWORD, "10.0.0.78").status_code == 302


def test_the_limit_is_shared_by_processes_through_redis(tmp_path, redis_url):
    import uuid

    clock = Clock(utcnow())
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    a = make_app(tmp_path / "a", COURTYARD_CLOCK=clock, MESSAGE_QUEUE=redis_url, SIGN_IN_REDIS_PREFIX=prefix,
                 DATABASE_URL=f"sqlite:///{tmp_path / 'shared.db'}")
    b = make_app(tmp_path / "b", COURTYARD_CLOCK=clock, MESSAGE_QUEUE=redis_url, SIGN_IN_REDIS_PREFIX=prefix,
                 DATABASE_URL=f"sqlite:///{tmp_path / 'shared.db'}")
    World(a)
    for i in range(5):
        assert _sign_in(a.test_client(), "renfu-admin", "guess", "10.0.0.5").status_code == 401
    r = _sign_in(b.test_client(), "renfu-admin", PASSWORD, "10.0.0.5")
    assert r.status_code == 429 and r.headers["Retry-After"]
    clock.advance(seconds=61)
    assert _sign_in(b.test_client(), "renfu-admin", PASSWORD, "10.0.0.5").status_code == 302


# ---------------------------------------------------------------- sign-ins that outlive sign-out


def _copy_cookies(source, target) -> None:
    for name in ("session", "remember_token"):
        cookie = source.get_cookie(name, domain="courtyard.test")
        if cookie is not None:
            target.set_cookie(name, cookie.value, domain=cookie.domain)


def _signed_in_as(client) -> str:
    match = re.search(r'<p class="whoami">([^<]*)', client.get("/").get_data(as_text=True))
    return match.group(1).strip() if match else ""


def test_sign_out_on_every_device_ends_copies_of_the_cookies(app, client, world):
    world.login(client, "resident")
    thief = app.test_client()
    _copy_cookies(client, thief)
    assert "王阿婆" in _signed_in_as(thief)
    page = client.get("/")
    client.post("/sign-out", data={"csrf_token": csrf_from(page), "everywhere": "1"})
    assert _signed_in_as(client) == ""
    assert _signed_in_as(thief) == ""  # the copy no longer signs in
    only_remember = app.test_client()
    world.login(only_remember, "resident")
    # a fresh sign-in (a new sign-in card) works again
    assert "王阿婆" in _signed_in_as(only_remember)


def test_an_admin_signs_a_member_out_on_every_device(app, client, world):
    world.login(client, "resident")
    head = app.test_client()
    world.login(head, "grid_head")
    r = head.post(f"/c/renfu/admin/members/{world.ids['resident']}/sign-out",
                  data={"csrf_token": csrf_from(head.get("/"))})
    assert r.status_code == 403 and "王阿婆" in _signed_in_as(client)
    admin = app.test_client()
    world.login(admin, "admin")
    r = admin.post(f"/c/renfu/admin/members/{world.ids['resident']}/sign-out",
                   data={"csrf_token": csrf_from(admin.get("/"))}, follow_redirects=True)
    assert r.status_code == 200 and "王阿婆 已在所有设备上退出登录" in r.get_data(as_text=True)
    assert _signed_in_as(client) == ""
    assert "计菲菲" in _signed_in_as(admin)


def test_a_stranger_cannot_tell_which_member_ids_exist_from_the_sign_in_card_route(app, world):
    stranger = app.test_client()
    token = csrf_from(stranger.get("/sign-in"))
    answers = {stranger.post(f"/c/renfu/members/{member_id}/sign-in-link", data={"csrf_token": token}).status_code
               for member_id in (world.ids["resident"], 999_999)}
    assert answers == {401}  # before: 401 for a member, 404 for an id that names no one

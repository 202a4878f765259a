"""Text that no page or database can hold (a lone surrogate, NUL, control characters) is
refused at the edge with a 400 naming the field, in the user's language, and nothing is
stored: the pages everyone reads stay up. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core.db import session_scope
from core.services import sessions as ss
from tests.conftest import World, make_app

BAD = ["a\ud800", "a\x00b", "bell\x07"]


@pytest.fixture(params=["sqlite", "postgres"])
def bad_app(request, tmp_path):
    if request.param == "sqlite":
        return make_app(tmp_path)
    url = request.getfixturevalue("fresh_postgres")
    return make_app(tmp_path, DATABASE_URL=url)


def _setup(app):
    from core.models import Community

    world = World(app)
    cy = app.extensions["courtyard"]
    with session_scope(cy.sessionmaker) as db:
        community = db.get(Community, world.community_id)
        now = community.created_at if getattr(community, "created_at", None) else None
        from datetime import datetime, timezone

        now = now or datetime.now(timezone.utc)
        s = ss.create_session(db, actor=None, catalog=cy.catalog, community=community,
                              format_key="representative_assembly", title="居民代表会议",
                              starts_at=now - timedelta(minutes=5), host_id=world.ids["host"],
                              status="scheduled", now=now - timedelta(minutes=5), agenda=["表决"])
        ss.change_status(db, actor=None, session=s, status="live")
        world.session_id = s.id
    return world


def post_json(client, url, headers, body):
    """POST ``body`` as a client would send it: JSON with ``\\uXXXX`` escapes (a lone
    surrogate is valid JSON text only escaped)."""
    return client.post(url, headers=headers, data=json.dumps(body), content_type="application/json")


def _client(app, world, role):
    client = app.test_client()
    world.login(client, role)
    return client, world.api_headers(client)


def _rows(app, model) -> int:
    with session_scope(app.extensions["courtyard"].sessionmaker) as db:
        return db.scalar(select(func.count()).select_from(model))


def _pages_up(app, world, issue_id: int) -> None:
    for role in (None, "admin"):
        client = app.test_client()
        if role:
            world.login(client, role)
        assert client.get(f"/c/{world.slug}").status_code == 200
        assert client.get(f"/c/{world.slug}/motions").status_code in (200, 302)
        assert client.get(f"/api/v1/communities/{world.slug}/categories").status_code == 200
    admin, _ = _client(app, world, "admin")
    assert admin.get(f"/c/{world.slug}/motions").status_code == 200
    assert admin.get(f"/c/{world.slug}/issues/{issue_id}").status_code == 200


@pytest.mark.parametrize("bad", BAD, ids=["surrogate", "nul", "control"])
def test_reported_cases_are_refused_and_pages_stay_up(bad_app, bad):
    from core.models import Issue, IssueEvent
    from core.models.community import CustomCategory as Category
    from core.models.vote import Motion

    app = bad_app
    world = _setup(app)
    api = f"/api/v1/communities/{world.slug}"
    resident, rh = _client(app, world, "resident2")
    issue = resident.post(f"{api}/issues", headers=rh, json={
        "title": "水管漏水", "category_key": "livelihood", "place_id": world.place_ids["building"]}).get_json()
    staff, sh = _client(app, world, "admin")
    assert staff.post(f"{api}/issues/{issue['id']}/triage", headers=sh, json={"decision": "accept"}).status_code == 200
    assert staff.post(f"{api}/issues/{issue['id']}/assign", headers=sh, json={
        "department_member_id": world.ids["department"], "due_in_days": 3}).status_code == 200
    dept, dh = _client(app, world, "department")
    before = {m: _rows(app, m) for m in (Category, Motion, IssueEvent, Issue)}

    # 1. a category name
    r = post_json(staff, f"{api}/categories", sh, {"key": "roads", "names": {"zh_CN": bad, "en": "Roads"}})
    assert r.status_code == 400, r.get_data(as_text=True)
    assert "names.zh_CN" in r.get_json()["error"]["fields"]
    # 2. a motion option
    r = post_json(staff, f"{api}/motions", sh, {
        "title": "先修哪条路？", "method": "plurality", "options": ["东路", bad], "session_id": world.session_id})
    assert r.status_code == 400, r.get_data(as_text=True)
    assert "options.1" in r.get_json()["error"]["fields"]
    # 3. an issue reply
    r = post_json(dept, f"{api}/issues/{issue['id']}/reply", dh, {"body": bad})
    assert r.status_code == 400, r.get_data(as_text=True)
    message = r.get_json()["error"]["fields"]["body"][0]
    assert "字符" in message  # in the resident's language (zh_CN by default)

    assert {m: _rows(app, m) for m in before} == before  # nothing half-written
    _pages_up(app, world, issue["id"])


def test_refusal_is_in_the_users_language(app, world):
    client, headers = _client(app, world, "admin")
    client.set_cookie("lang", "en", domain="courtyard.test")
    r = client.post(f"/api/v1/communities/{world.slug}/categories", headers=headers,
                    json={"key": "roads", "names": {"zh_CN": "路", "en": "Ro\x00ads"}})
    assert r.status_code == 400
    assert r.get_json()["error"]["fields"] == {"names.en": [
        "This text contains a character that cannot be stored (a control character or a broken one); "
        "remove it and try again."]}


def test_forms_and_query_strings_go_through_the_same_gate(app, world):
    client = app.test_client()
    r = client.post("/sign-in", data={"username": "a\x00", "password": "x"})
    assert r.status_code == 400
    r = client.get(f"/c/{world.slug}/motions?next=/x%0d%0aSet-Cookie:%20a=b", headers={"Accept": "text/html"})
    assert r.status_code == 400
    r = client.get(f"/api/v1/communities/{world.slug}/sessions?category=a%00")
    assert r.status_code == 400 and "category" in r.get_json()["error"]["fields"]
    r = client.get("/api/v1/communities/a%00b")
    assert r.status_code == 400 and "slug" in r.get_json()["error"]["fields"]


def test_a_value_stored_before_the_fix_does_not_break_pages(app, world):
    """Rows written before the edge refused such text: the pages show a replacement
    character rather than failing for every visitor."""
    from core.models.community import CustomCategory

    with session_scope(app.extensions["courtyard"].sessionmaker) as db:
        db.add(CustomCategory(community_id=world.community_id, key="roads", names={"zh_CN": "路\ud800", "en": "Roads"},
                        color="#123456"))
    client, headers = _client(app, world, "admin")
    assert client.get(f"/c/{world.slug}").status_code == 200
    r = client.get(f"/api/v1/communities/{world.slug}/categories")
    assert r.status_code == 200 and "Roads" in r.get_data(as_text=True)

    # a motion option (a JSON column keeps the surrogate escaped; reading it back gives it)
    from sqlalchemy import update

    from core.models.vote import Motion

    motion = client.post(f"/api/v1/communities/{world.slug}/motions", headers=headers, json={
        "title": "先修哪条路？", "method": "plurality", "options": ["东路", "西路"]}).get_json()
    with session_scope(app.extensions["courtyard"].sessionmaker) as db:
        db.execute(update(Motion).where(Motion.id == motion["id"]).values(options=["东路", "西\ud800"]))
    assert client.get(f"/c/{world.slug}/motions").status_code == 200
    assert client.get(f"/c/{world.slug}/motions/{motion['id']}").status_code == 200
    r = client.get(f"/api/v1/communities/{world.slug}/motions/{motion['id']}")
    assert r.status_code == 200 and r.get_json()["options"] == ["东路", "西\ud800"]


def test_an_answer_that_cannot_be_made_leaves_nothing_written(app, monkeypatch):
    """The commit comes after the answer is made: when making it fails (here the dump of
    the new category, of the new motion and of the replied issue), the client gets an
    error and nothing was written — a retry does not meet a half-made record."""
    import plugins.issues.views as issue_views
    import plugins.voting.views as voting_views
    from core.models import IssueEvent
    from core.models.community import CustomCategory
    from core.models.vote import Motion
    from web import schemas

    world = _setup(app)
    api = f"/api/v1/communities/{world.slug}"
    resident, rh = _client(app, world, "resident2")
    issue = resident.post(f"{api}/issues", headers=rh, json={
        "title": "水管漏水", "category_key": "livelihood", "place_id": world.place_ids["building"]}).get_json()
    staff, sh = _client(app, world, "admin")
    staff.post(f"{api}/issues/{issue['id']}/triage", headers=sh, json={"decision": "accept"})
    staff.post(f"{api}/issues/{issue['id']}/assign", headers=sh,
               json={"department_member_id": world.ids["department"], "due_in_days": 3})
    dept, dh = _client(app, world, "department")
    before = {m: _rows(app, m) for m in (CustomCategory, Motion, IssueEvent)}

    def broken(*args, **kwargs):
        raise RuntimeError("the answer could not be made")

    app.config["PROPAGATE_EXCEPTIONS"] = False
    monkeypatch.setattr(schemas.CategorySchema, "dump", broken)
    monkeypatch.setattr(voting_views, "dump_motion", broken)
    monkeypatch.setattr(issue_views, "dump_issue", broken)
    assert staff.post(f"{api}/categories", headers=sh, json={
        "key": "roads", "names": {"zh_CN": "道路", "en": "Roads"}}).status_code == 500
    assert staff.post(f"{api}/motions", headers=sh, json={
        "title": "先修哪条路？", "method": "plurality", "options": ["东路", "西路"]}).status_code == 500
    assert dept.post(f"{api}/issues/{issue['id']}/reply", headers=dh, json={"body": "已安排"}).status_code == 500
    assert {m: _rows(app, m) for m in before} == before

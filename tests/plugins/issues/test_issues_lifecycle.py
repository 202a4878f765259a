"""The whole loop through the API: raise → support → triage → assign → reply → resolve →
rate → reopen on a low rating; the timeline and the notifications along the way."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from tests.plugins.issues.issues_world import api, counts, png_bytes
from core.db import session_scope
from core.models import AgendaItem, Issue, Notification


def raise_one(client, iw, role="resident2", **extra):
    iw.login(client, role)
    body = {"title": "派出所楼下水管线塌陷", "description": "请尽快解决", "category_key": "livelihood",
            "place_id": iw.place_ids["building"], **extra}
    r = api(client, iw, "post", "/issues", json=body)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def test_full_loop(app, iw):
    resident, staff, dept, neighbour = app.test_client(), app.test_client(), app.test_client(), app.test_client()
    issue = raise_one(resident, iw)
    assert issue["status"] == "open" and issue["supporters"] == 1
    assert [e["kind"] for e in issue["timeline"]] == ["raised"]

    iw.login(neighbour, "resident")
    r = api(neighbour, iw, "post", f"/issues/{issue['id']}/support")
    assert r.status_code == 200 and r.get_json()["supporters"] == 2
    assert api(neighbour, iw, "post", f"/issues/{issue['id']}/support").status_code == 409

    iw.login(staff, "moderator")
    r = api(staff, iw, "post", f"/issues/{issue['id']}/triage", json={"decision": "accept"})
    assert r.get_json()["status"] == "accepted"
    due = (iw.clock.now + timedelta(days=3)).isoformat()
    r = api(staff, iw, "post", f"/issues/{issue['id']}/assign",
            json={"department_member_id": iw.ids["department"], "due_at": due})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["status"] == "assigned" and r.get_json()["department"] == "城管局"

    iw.clock.advance(hours=30)
    iw.login(dept, "department")
    r = api(dept, iw, "post", f"/issues/{issue['id']}/reply", json={"body": "已安排施工队"})
    assert r.get_json()["status"] == "replied"
    assert r.get_json()["first_reply_at"].startswith(iw.clock.now.isoformat()[:16])
    iw.clock.advance(hours=20)
    r = api(dept, iw, "post", f"/issues/{issue['id']}/resolve", json={"note": "已修复"})
    assert r.get_json()["status"] == "resolved" and r.get_json()["rating_round"] == 1

    # residents of the place rate: 2 and 1 → only two ratings, not yet reopened; a third 2 reopens
    assert api(neighbour, iw, "post", f"/issues/{issue['id']}/rate", json={"score": 2}).status_code == 200
    r = api(resident, iw, "post", f"/issues/{issue['id']}/rate", json={"score": 1})
    assert r.get_json()["status"] == "resolved" and r.get_json()["ratings"] == 2
    grid = app.test_client()
    iw.login(grid, "grid_head")  # a grid head has no home place under the building: may not rate
    assert api(grid, iw, "post", f"/issues/{issue['id']}/rate", json={"score": 5}).status_code == 403
    iw.login(staff, "admin")
    # staff have no home place: they do not rate either
    assert api(staff, iw, "post", f"/issues/{issue['id']}/rate", json={"score": 5}).status_code == 403

    with session_scope(app.extensions["courtyard"].sessionmaker) as db:
        from core.models import Member
        from core.services import communities as cs
        from core.models import Community, Place
        c = db.get(Community, iw.community_id)
        m = cs.add_member(db, actor=None, community=c, display_name="第三位", username="renfu-third",
                          password="correct horse battery", place=db.get(Place, iw.place_ids["unit"]),
                          roles=[("resident", None)])
        third_id = m.id
    third = app.test_client()
    page = third.get("/sign-in")
    from tests.plugins.issues.issues_world import api as _api  # noqa: F401
    import re
    token = re.search(r'name="csrf-token" content="([^"]+)"', page.get_data(as_text=True)).group(1)
    third.post("/sign-in", data={"csrf_token": token, "username": "renfu-third", "password": "correct horse battery"})
    r = api(third, iw, "post", f"/issues/{issue['id']}/rate", json={"score": 2})
    data = r.get_json()
    assert data["status"] == "reopened", data
    kinds = [e["kind"] for e in data["timeline"]]
    assert kinds == ["raised", "supported", "accepted", "assigned", "replied", "resolved", "rated", "rated", "rated",
                     "reopened"]
    assert all(e["at"] for e in data["timeline"])
    assert data["timeline"][2]["actor"]["display_name"] == "莫主持"

    with session_scope(app.extensions["courtyard"].sessionmaker) as db:
        notes = list(db.scalars(select(Notification).where(Notification.member_id == iw.ids["resident2"])))
        kinds = [n.kind for n in notes]
        assert {"issue_accepted", "issue_assigned", "issue_replied", "issue_resolved", "issue_reopened"} <= set(kinds)
        assert all(n.link == f"/c/{iw.slug}/issues/{issue['id']}" for n in notes)
        assert db.scalars(select(Notification).where(Notification.member_id == iw.ids["department"],
                                                     Notification.kind == "issue_assigned_to_you")).first()
    del third_id


def test_reject_with_reason_and_resident_sees_it(app, client, iw):
    issue = raise_one(client, iw)
    staff = app.test_client()
    iw.login(staff, "grid_head")
    r = api(staff, iw, "post", f"/issues/{issue['id']}/triage", json={"decision": "reject"})
    assert r.status_code == 400 and "reason" in r.get_json()["error"]["fields"]
    r = api(staff, iw, "post", f"/issues/{issue['id']}/triage",
            json={"decision": "reject", "reason": "属于物业维修范围，请联系物业"})
    assert r.get_json()["status"] == "rejected"
    page = client.get(f"/c/{iw.slug}/issues/{issue['id']}")
    assert "属于物业维修范围，请联系物业" in page.get_data(as_text=True)


def test_schedule_puts_it_on_the_forum_agenda(app, client, iw):
    issue = raise_one(client, iw)
    cy = app.extensions["courtyard"]
    from core.models import Community
    from core.services import sessions as ss
    with session_scope(cy.sessionmaker) as db:
        s = ss.create_session(db, actor=None, catalog=cy.catalog, community=db.get(Community, iw.community_id),
                              format_key="golden_microphone", title="民声金话筒", starts_at=iw.clock.now + timedelta(days=5),
                              status="scheduled", now=iw.clock.now)
        session_id = s.id
    staff = app.test_client()
    iw.login(staff, "grid_head")
    r = api(staff, iw, "post", f"/issues/{issue['id']}/triage", json={"decision": "schedule", "session_id": session_id})
    assert r.get_json()["status"] == "scheduled" and r.get_json()["session_id"] == session_id
    with session_scope(cy.sessionmaker) as db:
        items = list(db.scalars(select(AgendaItem).where(AgendaItem.session_id == session_id)))
        assert [i.title for i in items] == ["派出所楼下水管线塌陷"] and items[0].category_key == "livelihood"


def test_merge_moves_supporters(app, client, iw):
    a = raise_one(client, iw)
    b = raise_one(client, iw, title="水管塌了")
    other = app.test_client()
    iw.login(other, "resident")
    api(other, iw, "post", f"/issues/{b['id']}/support")
    staff = app.test_client()
    iw.login(staff, "moderator")
    r = api(staff, iw, "post", f"/issues/{b['id']}/merge", json={"into_id": a["id"]})
    assert r.get_json()["status"] == "merged" and r.get_json()["merged_into_id"] == a["id"]
    target = api(staff, iw, "get", f"/issues/{a['id']}").get_json()
    assert target["supporters"] == 2 and target["timeline"][-1]["kind"] == "merged_from"
    assert api(staff, iw, "post", f"/issues/{a['id']}/merge", json={"into_id": a["id"]}).status_code == 422
    listed = [i["id"] for i in api(staff, iw, "get", "/issues").get_json()]
    assert b["id"] not in listed and a["id"] in listed


def test_raise_on_behalf_with_photo_through_the_form(app, client, iw):
    iw.login(client, "grid_head")
    page = client.get(f"/c/{iw.slug}/issues/new")
    html = page.get_data(as_text=True)
    assert 'accept="image/*"' in html and "capture" in html and "王阿婆" in html
    import re
    token = re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)
    import io
    r = client.post(f"/c/{iw.slug}/issues/new", data={
        "csrf_token": token, "title": "楼道灯坏了", "description": "", "category_key": "livelihood",
        "place_id": str(iw.place_ids["unit"]), "on_behalf_of_id": str(iw.ids["resident"]),
        "photos": (io.BytesIO(png_bytes()), "light.png")}, content_type="multipart/form-data")
    assert r.status_code == 302, r.get_data(as_text=True)[:400]
    with session_scope(app.extensions["courtyard"].sessionmaker) as db:
        issue = db.scalars(select(Issue).where(Issue.title == "楼道灯坏了")).one()
        assert issue.on_behalf_of_id == iw.ids["resident"] and issue.raised_by_id == iw.ids["grid_head"]
        assert [(p.content_type, p.width, p.height) for p in issue.photos] == [("image/png", 4, 3)]
        photo_id, issue_id = issue.photos[0].id, issue.id
    detail = client.get(r.headers["Location"])
    assert "楼道灯坏了" in detail.get_data(as_text=True)
    img = client.get(f"/c/{iw.slug}/issues/{issue_id}/photos/{photo_id}")
    assert img.status_code == 200 and img.mimetype == "image/png" and img.data == png_bytes()
    assert img.headers["X-Content-Type-Options"] == "nosniff"


def test_pages_render_for_every_role(app, iw):
    c = app.test_client()
    issue = raise_one(c, iw)
    for role in ("admin", "grid_head", "resident2", "department"):
        client = app.test_client()
        iw.login(client, role)
        assert client.get(f"/c/{iw.slug}/issues").status_code == 200
        assert client.get(f"/c/{iw.slug}/issues/dashboard").status_code == 200
        assert client.get(f"/c/{iw.slug}/issues/review").status_code == 200
        expected = 403 if role == "department" else 200
        assert client.get(f"/c/{iw.slug}/issues/{issue['id']}").status_code == expected
    anon = app.test_client()
    assert anon.get(f"/c/{iw.slug}/issues").status_code == 302
    assert counts(app)["issues"] == 1

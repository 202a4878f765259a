"""Rights as a matrix: every role × every action, through the API; a refusal answers
401/403 and writes nothing (no issue, event, support, rating or notification)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from tests.plugins.issues.issues_world import api, counts
from core.db import session_scope
from core.models import Community, Member
from core.services import communities as cs
from core.services import issues as svc

ROLES = ["anonymous", "outsider", "admin", "moderator", "host", "grid_head", "other_grid_head", "department",
         "resident", "resident2", "other_resident"]
STAFF = {"admin", "moderator"}
#: action → roles allowed (any other role is refused); the issue is raised by resident2 at the building
ALLOWED = {
    "view": {"admin", "moderator", "host", "grid_head", "other_grid_head", "resident", "resident2", "other_resident"},
    "edit": STAFF | {"resident2"},
    "support": {"host", "grid_head", "resident"},  # home on the building's branch; resident2 already supports
    "triage": STAFF | {"grid_head"},
    "assign": STAFF,
    "merge": STAFF,
    "reply": STAFF | {"department"},
    "resolve": STAFF | {"department"},
    "rate": {"resident", "resident2"},
    "dashboard": {"admin", "moderator", "host", "grid_head", "other_grid_head", "department", "resident",
                  "resident2", "other_resident"},
}


def setup_issue(app, iw, stage: str) -> tuple[int, int | None]:
    cy = app.extensions["courtyard"]
    with session_scope(cy.sessionmaker) as db:
        c = db.get(Community, iw.community_id)
        raiser = db.get(Member, iw.ids["resident2"])
        admin = db.get(Member, iw.ids["admin"])
        dept = db.get(Member, iw.ids["department"])
        issue = svc.raise_issue(db, actor=raiser, catalog=cy.catalog, community=c, title="9栋雨水管漏水",
                                description="", category_key="livelihood", place_id=iw.place_ids["building"],
                                now=iw.clock.now)
        other = None
        if stage == "merge":
            other = svc.raise_issue(db, actor=raiser, catalog=cy.catalog, community=c, title="雨水管", description="",
                                    category_key="livelihood", place_id=iw.place_ids["building"], now=iw.clock.now).id
        if stage in ("assigned", "resolved"):
            svc.assign(db, actor=admin, issue=issue, department_member_id=dept.id,
                       due_at=iw.clock.now + timedelta(days=7), now=iw.clock.now)
        if stage == "resolved":
            svc.resolve(db, actor=dept, issue=issue, now=iw.clock.now)
        return issue.id, other


def sign_in(app, iw, client, role):
    if role == "anonymous":
        return
    if role == "outsider":
        cy = app.extensions["courtyard"]
        with session_scope(cy.sessionmaker) as db:
            c = cs.create_community(db, slug="elsewhere", names={"zh_CN": "别处", "en": "Elsewhere"})
            cs.add_member(db, actor=None, community=c, display_name="外人", username="outsider",
                          password="correct horse battery", roles=[("admin", None)])
        page = client.get("/sign-in")
        token = re.search(r'name="csrf-token" content="([^"]+)"', page.get_data(as_text=True)).group(1)
        assert client.post("/sign-in", data={"csrf_token": token, "username": "outsider",
                                             "password": "correct horse battery"}).status_code == 302
        return
    iw.login(client, role)


def call(client, iw, action, issue_id, other_id):
    if action == "view":
        return api(client, iw, "get", f"/issues/{issue_id}")
    if action == "edit":
        return api(client, iw, "patch", f"/issues/{issue_id}", json={"title": "9栋雨水管漏水（改）"})
    if action == "support":
        return api(client, iw, "post", f"/issues/{issue_id}/support")
    if action == "triage":
        return api(client, iw, "post", f"/issues/{issue_id}/triage", json={"decision": "accept"})
    if action == "assign":
        return api(client, iw, "post", f"/issues/{issue_id}/assign",
                   json={"department_member_id": iw.ids["department"], "due_in_days": 7})
    if action == "merge":
        return api(client, iw, "post", f"/issues/{other_id}/merge", json={"into_id": issue_id})
    if action == "reply":
        return api(client, iw, "post", f"/issues/{issue_id}/reply", json={"body": "收到，三天内处理"})
    if action == "resolve":
        return api(client, iw, "post", f"/issues/{issue_id}/resolve", json={})
    if action == "rate":
        return api(client, iw, "post", f"/issues/{issue_id}/rate", json={"score": 4})
    if action == "dashboard":
        return api(client, iw, "get", "/issues/dashboard")
    raise AssertionError(action)


STAGE = {"reply": "assigned", "resolve": "assigned", "rate": "resolved", "merge": "merge"}


@pytest.mark.parametrize("role", ROLES)
def test_rights_matrix(app, iw, role):
    client = app.test_client()
    sign_in(app, iw, client, role)
    for action, allowed in ALLOWED.items():
        issue_id, other_id = setup_issue(app, iw, STAGE.get(action, "open"))
        before = counts(app)
        r = call(client, iw, action, issue_id, other_id)
        if (role, action) == ("resident2", "support"):  # the raiser is the first supporter already
            assert r.status_code == 409 and counts(app) == before
        elif role in allowed:
            assert r.status_code in (200, 201), (role, action, r.status_code, r.get_json())
        else:
            expected = 401 if role == "anonymous" else 403
            assert r.status_code == expected, (role, action, r.status_code, r.get_json())
            assert r.get_json()["error"]["message"]
            assert counts(app) == before, (role, action)


def test_department_lists_only_its_issues(app, iw):
    assigned, _ = setup_issue(app, iw, "assigned")
    setup_issue(app, iw, "open")
    client = app.test_client()
    iw.login(client, "department")
    assert [i["id"] for i in api(client, iw, "get", "/issues").get_json()] == [assigned]
    resident = app.test_client()
    iw.login(resident, "resident")
    assert len(api(resident, iw, "get", "/issues").get_json()) == 2


def test_resident_cannot_edit_after_triage(app, iw):
    issue_id, _ = setup_issue(app, iw, "assigned")
    client = app.test_client()
    iw.login(client, "resident2")
    before = counts(app)
    r = api(client, iw, "patch", f"/issues/{issue_id}", json={"title": "改"})
    assert r.status_code == 403 and counts(app) == before


def test_forms_need_the_csrf_token(app, iw):
    issue_id, _ = setup_issue(app, iw, "open")
    client = app.test_client()
    iw.login(client, "resident")
    before = counts(app)
    r = client.post(f"/c/{iw.slug}/issues/{issue_id}/support", data={})
    assert r.status_code == 400 and counts(app) == before

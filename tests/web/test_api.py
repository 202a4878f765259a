"""The JSON API: what works, and every way a wrong input is refused (4xx naming the
field, in the caller's language, nothing half-written)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from core.models import ConsultationSession, CustomCategory

START = (datetime.now(timezone.utc) + timedelta(days=3)).replace(microsecond=0)


def new_session(**overrides):
    body = {"format_key": "golden_microphone", "title": "民声金话筒：占道违停怎么管？", "starts_at": START.isoformat(),
            "venue": "社区党群服务中心", "category_key": "environment", "agenda": ["网格报告", "部门回应"]}
    body.update(overrides)
    return body


def count_sessions(app) -> int:
    with app.extensions["courtyard"].sessionmaker() as db:
        return db.scalar(select(func.count()).select_from(ConsultationSession))


@pytest.fixture
def staff(client, world):
    world.login(client, "admin")
    return world.api_headers(client)


def test_staff_schedule_a_session_and_residents_see_it(app, client, world, staff):
    r = client.post("/api/v1/communities/renfu/sessions", json=new_session(status="scheduled"), headers=staff)
    assert r.status_code == 201, r.json
    created = r.json
    assert created["title"] == "民声金话筒：占道违停怎么管？"
    assert [a["title"] for a in created["agenda"]] == ["网格报告", "部门回应"]
    assert len(created["join_code"]) == 8
    other = app.test_client()
    listed = other.get("/api/v1/communities/renfu/sessions?upcoming=true").json
    assert [s["id"] for s in listed] == [created["id"]]
    assert other.get(f"/api/v1/communities/renfu/sessions/{created['id']}").json["venue"] == "社区党群服务中心"


def test_drafts_are_hidden_from_residents(app, client, world, staff):
    draft = client.post("/api/v1/communities/renfu/sessions", json=new_session(), headers=staff).json
    resident = app.test_client()
    world.login(resident, "resident")
    assert resident.get(f"/api/v1/communities/renfu/sessions/{draft['id']}").status_code == 404
    assert resident.get("/api/v1/communities/renfu/sessions").json == []


@pytest.mark.parametrize(
    "body, field",
    [
        (new_session(title=123), "title"),
        (new_session(title="长" * 201), "title"),
        ({k: v for k, v in new_session().items() if k != "title"}, "title"),
        (new_session(starts_at="next tuesday"), "starts_at"),
        (new_session(starts_at="2026-12-01T10:00:00"), "starts_at"),  # no time zone
        (new_session(capacity="20"), "capacity"),
        (new_session(capacity=0), "capacity"),
        (new_session(format_key="karaoke"), "format_key"),
        (new_session(category_key="sports"), "category_key"),
        (new_session(host_id=999999), "host_id"),
        (new_session(ends_at=(START - timedelta(hours=1)).isoformat()), "ends_at"),
        (new_session(status="live"), "status"),
        (new_session(agenda="not a list"), "agenda"),
        (new_session(colour="red"), "colour"),
    ],
)
def test_bad_session_input_is_refused_naming_the_field(app, client, world, staff, body, field):
    r = client.post("/api/v1/communities/renfu/sessions", json=body, headers=staff)
    assert 400 <= r.status_code < 500, r.json
    assert field in r.json["error"]["fields"], r.json
    assert count_sessions(app) == 0


def test_malformed_json_and_non_objects(app, client, world, staff):
    r = client.post("/api/v1/communities/renfu/sessions", data="{not json", headers={**staff,
                    "Content-Type": "application/json"})
    assert r.status_code == 400 and "JSON" in r.json["error"]["fields"]["_schema"][0]
    r = client.post("/api/v1/communities/renfu/sessions", json=[1, 2], headers=staff)
    assert r.status_code == 400
    assert count_sessions(app) == 0


def test_errors_come_in_the_members_language(app, client, world, staff):
    client.patch("/api/v1/me", json={"locale": "zh_CN"}, headers=staff)
    r = client.post("/api/v1/communities/renfu/sessions", json=new_session(title="长" * 201), headers=staff)
    assert r.json["error"]["fields"]["title"] == ["太长了，最多 200 个字。"]
    assert r.json["error"]["message"] == "请检查标出的内容。"
    client.patch("/api/v1/me", json={"locale": "en"}, headers=staff)
    r = client.post("/api/v1/communities/renfu/sessions", json=new_session(title="长" * 201), headers=staff)
    assert r.json["error"]["fields"]["title"] == ["Longer than maximum length 200."]


def test_unknown_and_foreign_ids(app, client, world, staff):
    from tests.conftest import World

    World(app, slug="tuxin")
    foreign = app.test_client()
    world_tuxin_login = foreign.get("/sign-in")
    del world_tuxin_login
    mine = client.post("/api/v1/communities/renfu/sessions", json=new_session(), headers=staff).json
    assert client.get("/api/v1/communities/renfu/sessions/424242").status_code == 404
    assert client.get("/api/v1/communities/nowhere/sessions").status_code == 404
    # the session exists, but not in tuxin: as good as absent there
    assert client.get(f"/api/v1/communities/tuxin/sessions/{mine['id']}").status_code == 404
    # renfu's admin cannot schedule in tuxin
    r = client.post("/api/v1/communities/tuxin/sessions", json=new_session(), headers=staff)
    assert r.status_code == 403
    assert count_sessions(app) == 1


def test_signed_out_callers_and_residents_cannot_write(app, client, world):
    anonymous = app.test_client()
    page = anonymous.get("/sign-in")
    from tests.conftest import csrf_from

    r = anonymous.post("/api/v1/communities/renfu/sessions", json=new_session(),
                       headers={"X-CSRFToken": csrf_from(page)})
    assert r.status_code == 401
    world.login(client, "resident")
    r = client.post("/api/v1/communities/renfu/sessions", json=new_session(), headers=world.api_headers(client))
    assert r.status_code == 403
    assert count_sessions(app) == 0


def test_cookie_calls_need_the_csrf_token(app, client, world):
    world.login(client, "admin")
    r = client.post("/api/v1/communities/renfu/sessions", json=new_session())
    assert r.status_code == 400
    assert count_sessions(app) == 0


def test_bearer_tokens_work_without_csrf(app, client, world):
    from core.db import session_scope
    from core.models import Member
    from core.services.auth import issue_api_token

    with session_scope(app.extensions["courtyard"].sessionmaker) as db:
        token = issue_api_token(db, member=db.get(Member, world.ids["host"]), label="script")
    r = client.post("/api/v1/communities/renfu/sessions", json=new_session(),
                    headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 201
    assert r.json["host"]["display_name"] == "李月昌"
    r = client.get("/api/v1/me", headers={"Authorization": "Bearer cy_wrong"})
    assert r.status_code == 401


def test_lifecycle_over_the_api_and_concurrent_edits(app, client, world, staff):
    s = client.post("/api/v1/communities/renfu/sessions", json=new_session(), headers=staff).json
    url = f"/api/v1/communities/renfu/sessions/{s['id']}"
    assert client.post(url + "/status", json={"status": "live"}, headers=staff).status_code == 409
    for status in ("scheduled", "live", "closed"):
        r = client.post(url + "/status", json={"status": status}, headers=staff)
        assert r.status_code == 200 and r.json["status"] == status
    assert client.patch(url, json={"title": "x"}, headers=staff).status_code == 409

    s2 = client.post("/api/v1/communities/renfu/sessions", json=new_session(), headers=staff).json
    url2 = f"/api/v1/communities/renfu/sessions/{s2['id']}"
    first = client.patch(url2, json={"title": "第一位的修改", "version": s2["version"]}, headers=staff)
    assert first.status_code == 200
    second = client.patch(url2, json={"title": "第二位的修改", "version": s2["version"]}, headers=staff)
    assert second.status_code == 409 and "version" in second.json["error"]["fields"]
    assert client.get(url2).json["title"] == "第一位的修改"


def test_agenda_items(app, client, world, staff):
    s = client.post("/api/v1/communities/renfu/sessions", json=new_session(agenda=[]), headers=staff).json
    url = f"/api/v1/communities/renfu/sessions/{s['id']}/agenda"
    assert client.post(url, json={"title": "水管改造", "category_key": "livelihood"}, headers=staff).status_code == 201
    assert client.post(url, json={"title": ""}, headers=staff).status_code == 400
    assert client.post(url, json={"title": "x", "category_key": "nope"}, headers=staff).status_code == 422
    assert [a["title"] for a in client.get(f"/api/v1/communities/renfu/sessions/{s['id']}").json["agenda"]] == ["水管改造"]


def test_community_categories(app, client, world, staff):
    url = "/api/v1/communities/renfu/categories"
    r = client.post(url, json={"key": "safety", "names": {"zh_CN": "平安", "en": "Safety"}, "color": "#7c3aed"},
                    headers=staff)
    assert r.status_code == 201
    bad = client.post(url, json={"key": "Bad Key!", "names": {"zh_CN": "x"}}, headers=staff)
    assert bad.status_code == 400 and {"key", "names"} <= set(bad.json["error"]["fields"])
    names = {c["key"]: c["name"] for c in app.test_client().get(url + "?lang=en").json}
    assert names["safety"] == "平安" or names["safety"] == "Safety"
    assert list(names)[:5] == ["livelihood", "finance", "healthcare", "environment", "culture"]
    with app.extensions["courtyard"].sessionmaker() as db:
        assert db.scalar(select(func.count()).select_from(CustomCategory)) == 1


def test_openapi_document_describes_the_api(client):
    spec = client.get("/api/openapi.json").json
    assert spec["openapi"].startswith("3.")
    post = spec["paths"]["/api/v1/communities/{slug}/sessions"]["post"]
    body = post["requestBody"]["content"]["application/json"]["schema"]
    assert body["$ref"].endswith("/SessionIn")
    props = spec["components"]["schemas"]["SessionIn"]["properties"]
    assert props["title"]["maxLength"] == 200
    assert "400" in post["responses"]


def test_healthz(client):
    assert client.get("/healthz").json == {"status": "ok"}


def test_the_openapi_document_is_built_once_not_per_request(client, monkeypatch):
    """Anyone may fetch it and a build costs tens of milliseconds of CPU: a stranger
    asking in a loop must not make the server build it every time."""
    from web import openapi

    builds = []
    real = openapi.build_spec
    monkeypatch.setattr(openapi, "build_spec", lambda: builds.append(1) or real())
    answers = [client.get("/api/openapi.json") for _ in range(5)]
    assert all(r.status_code == 200 and r.mimetype == "application/json" for r in answers)
    assert answers[0].json == answers[-1].json and answers[0].json["openapi"].startswith("3.")
    assert len(builds) <= 1  # before: 5 builds for 5 requests

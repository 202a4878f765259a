"""The rota through the JSON API, the pages and the calendar feeds (injected clock)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from icalendar import Calendar
from sqlalchemy import func, select

from core.db import session_scope
from core.models import ConsultationSession, HostApplication, RotationSeries
from core.plugins import hookimpl
from core.scheduling import Assignment
from tests.conftest import World, csrf_from, make_app

API = "/api/v1/communities/renfu/rotation"
SATURDAYS = ["2026-03-07", "2026-03-14", "2026-03-21", "2026-03-28"]


@pytest.fixture
def app(tmp_path, clock):
    return make_app(tmp_path, COURTYARD_CLOCK=clock)


def count(app, model) -> int:
    with session_scope(app.extensions["courtyard"].sessionmaker) as db:
        return db.scalar(select(func.count()).select_from(model))


def signed_in(app, world, role):
    client = app.test_client()
    world.login(client, role)
    return client, world.api_headers(client)


def make_series(app, world, **overrides):
    client, headers = signed_in(app, world, "admin")
    body = {"title": "海棠小院茶话会", "weekdays": [5], "start_time": "14:00", "min_capacity": 5, **overrides}
    response = client.post(f"{API}/series", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def apply(app, world, role, series_id, dates=SATURDAYS, seats=10, address=None):
    client, headers = signed_in(app, world, role)
    response = client.post(f"{API}/series/{series_id}/applications", headers=headers, json={
        "venue_address": address or f"人福村 {role} 号", "seats": seats, "topic": f"{role}：围炉煮茶", "dates": dates,
        "bring_note": "带茶杯"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def planned(app, world):
    series = make_series(app, world)
    apply(app, world, "resident", series["id"])
    apply(app, world, "resident2", series["id"], SATURDAYS[:3], seats=8)
    apply(app, world, "host", series["id"], SATURDAYS[1:], seats=12)
    client, headers = signed_in(app, world, "admin")
    response = client.post(f"{API}/series/{series['id']}/plan", json={"month": "2026-03", "version": 1},
                           headers=headers)
    assert response.status_code == 200, response.get_json()
    return series, response.get_json()


def role_of(world, member_id):
    return next(r for r, i in world.ids.items() if i == member_id)


def test_plan_confirm_reserve_and_address_privacy(app, world):
    series, plan = planned(app, world)
    slots = plan["slots"]
    assert len(slots) == 4 and all(s["state"] == "proposed" and s["host"] for s in slots)
    first = slots[0]
    host_role = role_of(world, first["host"]["id"])
    client, headers = signed_in(app, world, host_role)
    response = client.post(f"{API}/slots/{first['id']}/confirm", json={}, headers=headers)
    assert response.status_code == 200, response.get_json()
    session_id = response.get_json()["session_id"]
    # a resident without a seat sees the venue's name but not the address
    guest = next(r for r in ("resident", "resident2", "other_resident") if r != host_role)
    gclient, gheaders = signed_in(app, world, "other_resident" if guest != "other_resident" else "resident")
    talk = gclient.get(f"{API}/sessions/{session_id}").get_json()
    assert talk["address"] is None and talk["venue"].endswith("courtyard") or "家小院" in talk["venue"]
    page = gclient.get(f"/c/renfu/courtyard/sessions/{session_id}").get_data(as_text=True)
    assert f"人福村 {host_role} 号" not in page
    response = gclient.post(f"{API}/sessions/{session_id}/reservations", json={"bringing": "两把竹椅"},
                            headers=gheaders)
    assert response.status_code == 201 and response.get_json()["my_reservation"]["status"] == "reserved"
    assert response.get_json()["address"] == f"人福村 {host_role} 号"
    assert f"人福村 {host_role} 号" in gclient.get(f"/c/renfu/courtyard/sessions/{session_id}").get_data(as_text=True)
    # the host sees who is coming and what they bring; a resident may not
    coming = client.get(f"{API}/sessions/{session_id}/attendees").get_json()
    assert [c["bringing"] for c in coming] == ["两把竹椅"]
    assert gclient.get(f"{API}/sessions/{session_id}/attendees").status_code == 403
    # the confirmed host cannot decline any more
    response = client.post(f"{API}/slots/{first['id']}/decline", json={}, headers=headers)
    assert response.status_code == 409 and "state" in response.get_json()["error"]["fields"]


def test_decline_replans_only_that_date_and_a_stale_edit_is_a_conflict(app, world):
    series, plan = planned(app, world)
    before = {s["id"]: s["host"]["id"] for s in plan["slots"]}
    target = plan["slots"][1]
    client, headers = signed_in(app, world, role_of(world, target["host"]["id"]))
    response = client.post(f"{API}/slots/{target['id']}/decline", json={}, headers=headers)
    assert response.status_code == 200, response.get_json()
    admin, aheaders = signed_in(app, world, "admin")
    after = admin.get(f"{API}/series/{series['id']}/plan?month=2026-03").get_json()
    changed = [s["id"] for s in after["slots"] if (s["host"] or {}).get("id") != before[s["id"]]]
    assert changed == [target["id"]]
    version = after["version"]
    # two staff on the same version: the first override wins, the second is told to reload
    other = next(s for s in after["slots"] if s["id"] != target["id"])
    ok = admin.post(f"{API}/slots/{other['id']}/override", json={"host_id": world.ids["resident"],
                                                                 "version": version}, headers=aheaders)
    assert ok.status_code == 200, ok.get_json()
    mod, mheaders = signed_in(app, world, "moderator")
    stale = mod.post(f"{API}/slots/{target['id']}/override", json={"host_id": world.ids["resident"],
                                                                   "version": version}, headers=mheaders)
    assert stale.status_code == 409 and "version" in stale.get_json()["error"]["fields"]
    # a resident cannot override at all
    res, rheaders = signed_in(app, world, "resident2")
    assert res.post(f"{API}/slots/{target['id']}/override", json={"host_id": world.ids["resident2"]},
                    headers=rheaders).status_code == 403


@pytest.mark.parametrize("change, field, status", [
    ({"seats": 0}, "seats", 400),
    ({"seats": "many"}, "seats", 400),
    ({"dates": ["2026-02-28"]}, "dates", 422),
    ({"dates": ["2026-03-07", "2026-03-07"]}, "dates", 400),
    ({"dates": ["2026-03-09"]}, "dates", 422),
    ({"dates": ["not a date"]}, "dates", 400),
    ({"venue_address": ""}, "venue_address", 400),
    ({"extra": 1}, "extra", 400),
])
def test_bad_applications_name_the_field_and_write_nothing(app, world, change, field, status):
    series = make_series(app, world)
    client, headers = signed_in(app, world, "resident2")
    body = {"venue_address": "人福村 3 组", "seats": 8, "topic": "读书会", "dates": SATURDAYS[:2], **change}
    response = client.post(f"{API}/series/{series['id']}/applications", json=body, headers=headers)
    assert response.status_code == status, response.get_json()
    assert field in response.get_json()["error"]["fields"]
    assert count(app, HostApplication) == 0


def test_zero_capacity_series_and_past_month_are_refused(app, world):
    client, headers = signed_in(app, world, "admin")
    response = client.post(f"{API}/series", json={"title": "x", "weekdays": [5], "min_capacity": 0},
                           headers=headers)
    assert response.status_code == 400 and "min_capacity" in response.get_json()["error"]["fields"]
    response = client.post(f"{API}/series", json={"title": "x", "dates": ["2026-03-01"]}, headers=headers)
    assert response.status_code == 422 and "dates" in response.get_json()["error"]["fields"]
    assert count(app, RotationSeries) == 0
    series = make_series(app, world)
    response = client.post(f"{API}/series/{series['id']}/plan", json={"month": "2026-02"}, headers=headers)
    assert response.status_code == 422 and "month" in response.get_json()["error"]["fields"]
    resident, rheaders = signed_in(app, world, "resident2")
    assert resident.post(f"{API}/series", json={"title": "x", "weekdays": [5]}, headers=rheaders).status_code == 403


def test_waiting_list_through_the_api(app, world):
    series = make_series(app, world, min_capacity=1)
    apply(app, world, "host", series["id"], SATURDAYS[:1], seats=1)
    admin, aheaders = signed_in(app, world, "admin")
    slot = admin.post(f"{API}/series/{series['id']}/plan", json={"month": "2026-03"},
                      headers=aheaders).get_json()["slots"][0]
    host, hheaders = signed_in(app, world, "host")
    session_id = host.post(f"{API}/slots/{slot['id']}/confirm", json={}, headers=hheaders).get_json()["session_id"]
    a, ah = signed_in(app, world, "resident2")
    b, bh = signed_in(app, world, "grid_head")
    assert a.post(f"{API}/sessions/{session_id}/reservations", json={}, headers=ah).get_json()["my_reservation"][
        "status"] == "reserved"
    assert b.post(f"{API}/sessions/{session_id}/reservations", json={}, headers=bh).get_json()["my_reservation"][
        "status"] == "waitlisted"
    assert a.post(f"{API}/sessions/{session_id}/reservations", json={}, headers=ah).status_code == 409
    assert a.delete(f"{API}/sessions/{session_id}/reservations/mine", headers=ah).status_code == 200
    assert b.get(f"{API}/sessions/{session_id}").get_json()["my_reservation"]["status"] == "reserved"


class FirstApplicantPolicy:
    """A community's own policy: whoever applied first hosts every date they can."""

    plugin_name = "first_come"

    @hookimpl
    def courtyard_plan_host_rotation(self, slots, candidates, fixed):
        keep = {a.slot: a.member_id for a in fixed}
        first = sorted(candidates, key=lambda c: c.member_id)
        return [Assignment(s, keep[s] if s in keep else next((c.member_id for c in first if c.can_host(s)), None))
                for s in slots]


def test_a_community_plugin_replaces_the_policy(tmp_path, clock):
    app = make_app(tmp_path, COURTYARD_CLOCK=clock, EXTRA_PLUGINS=[FirstApplicantPolicy()])
    world = World(app)
    series = make_series(app, world)
    for role in ("resident2", "resident"):
        apply(app, world, role, series["id"])
    client, headers = signed_in(app, world, "admin")
    slots = client.post(f"{API}/series/{series['id']}/plan", json={"month": "2026-03"}, headers=headers).get_json()[
        "slots"]
    lowest = min(world.ids["resident"], world.ids["resident2"])
    assert [s["host"]["id"] for s in slots] == [lowest] * 4  # the built-in would have rotated


def parse(body: bytes) -> dict[str, object]:
    cal = Calendar.from_ical(body)
    return {str(e["UID"]): e for e in cal.walk("VEVENT")}


def test_calendar_feeds_keep_uids_and_bump_sequence(app, world, clock):
    series, plan = planned(app, world)
    slot = plan["slots"][0]
    host_role = role_of(world, slot["host"]["id"])
    host, hheaders = signed_in(app, world, host_role)
    session_id = host.post(f"{API}/slots/{slot['id']}/confirm", json={}, headers=hheaders).get_json()["session_id"]
    anon = app.test_client()
    response = anon.get("/c/renfu/calendar.ics")
    assert response.status_code == 200 and response.mimetype == "text/calendar"
    events = parse(response.data)
    uid = next(u for u in events if u.startswith(f"courtyard-session-{session_id}@"))
    assert str(events[uid]["STATUS"]) == "CONFIRMED"
    assert f"人福村 {host_role} 号" not in response.get_data(as_text=True)  # the public feed has no address
    seq = int(events[uid]["SEQUENCE"])
    # personal feed through a secret link: the host's own talk, with the address
    made = host.post(f"{API}/calendar-token", json={}, headers=hheaders)
    assert made.status_code == 201
    url = made.get_json()["url"].replace("http://courtyard.test", "")
    mine = anon.get(url)
    assert mine.status_code == 200 and uid in parse(mine.data)
    assert f"人福村 {host_role} 号" in mine.get_data(as_text=True)
    assert anon.get("/calendar/not-a-token.ics").status_code == 404
    # staff move it to another host: same UID, higher SEQUENCE
    admin, aheaders = signed_in(app, world, "admin")
    other = next(r for r in ("resident", "resident2") if r != host_role)
    version = admin.get(f"{API}/series/{series['id']}/plan?month=2026-03").get_json()["version"]
    response = admin.post(f"{API}/slots/{slot['id']}/override", json={"host_id": world.ids[other],
                                                                      "version": version}, headers=aheaders)
    assert response.status_code == 200, response.get_json()
    events = parse(anon.get("/c/renfu/calendar.ics").data)
    assert int(events[uid]["SEQUENCE"]) > seq
    seq = int(events[uid]["SEQUENCE"])
    response = admin.post(f"{API}/slots/{slot['id']}/cancel", json={}, headers=aheaders)
    assert response.status_code == 200, response.get_json()
    events = parse(anon.get("/c/renfu/calendar.ics").data)
    assert str(events[uid]["STATUS"]) == "CANCELLED" and int(events[uid]["SEQUENCE"]) > seq
    assert "LAST-MODIFIED" in events[uid]


def test_pages_forms_and_print(app, world, clock):
    series, plan = planned(app, world)
    client, _ = signed_in(app, world, "admin")
    for path in ("/c/renfu/courtyard/", f"/c/renfu/courtyard/{series['id']}?month=2026-03",
                 f"/c/renfu/courtyard/{series['id']}/apply", "/c/renfu/courtyard/calendar",
                 f"/c/renfu/courtyard/{series['id']}/print?month=2026-03"):
        page = client.get(path)
        assert page.status_code == 200, path
        html = page.get_data(as_text=True)
        assert html.count('name="csrf_token"') >= html.count("<form"), path
    plan_page = client.get(f"/c/renfu/courtyard/{series['id']}?month=2026-03").get_data(as_text=True)
    assert "override" in plan_page and "plan" in plan_page
    printed = client.get(f"/c/renfu/courtyard/{series['id']}/print?month=2026-03").get_data(as_text=True)
    assert printed.count("<tr") == 5  # the header and four Saturdays
    assert client.get(f"/c/renfu/courtyard/{series['id']}/print?month=2026-13").status_code == 400
    # a resident applies through the form with big date checkboxes
    resident = app.test_client()
    world.login(resident, "other_resident")
    form = resident.get(f"/c/renfu/courtyard/{series['id']}/apply")
    html = form.get_data(as_text=True)
    assert 'type="checkbox" name="dates" value="2026-03-07"' in html
    response = resident.post(f"/c/renfu/courtyard/{series['id']}/apply", data={
        "csrf_token": csrf_from(form), "venue_address": "西片 7 号", "seats": "9", "topic": "烘焙课",
        "dates": ["2026-03-14", "2026-03-21"]})
    assert response.status_code == 302
    # and the same form with a bad seat count comes back with the error, nothing written
    before = count(app, HostApplication)
    other = app.test_client()
    world.login(other, "grid_head")
    form = other.get(f"/c/renfu/courtyard/{series['id']}/apply")
    response = other.post(f"/c/renfu/courtyard/{series['id']}/apply", data={
        "csrf_token": csrf_from(form), "venue_address": "x", "seats": "0", "topic": "t", "dates": ["2026-03-14"]},
        headers={"Referer": f"http://courtyard.test/c/renfu/courtyard/{series['id']}/apply"})
    assert response.status_code == 302 and count(app, HostApplication) == before
    assert "seats" in other.get(f"/c/renfu/courtyard/{series['id']}/apply").get_data(as_text=True)


def test_openapi_documents_the_rota_and_the_cli_command_exists(app):
    spec = app.test_client().get("/api/openapi.json").get_json()
    assert "/api/v1/communities/{slug}/rotation/series/{series_id}/applications" in spec["paths"]
    assert "/api/v1/communities/{slug}/rotation/slots/{slot_id}/override" in spec["paths"]
    from click.testing import CliRunner

    from web.cli import main

    result = CliRunner().invoke(main, ["rotation", "--help"])
    assert result.exit_code == 0 and "remind" in result.output


def test_demo_seeds_eight_talks_in_residents_homes(app):
    from web.demo import seed_demo

    now = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)
    info = seed_demo(app, base_url="http://demo.test", now=now)
    renfu = next(c for c in info["communities"] if c["slug"] == "renfu")
    assert renfu["calendar_url"] == "http://demo.test/c/renfu/calendar.ics"
    with session_scope(app.extensions["courtyard"].sessionmaker) as db:
        talks = db.scalars(select(ConsultationSession).where(
            ConsultationSession.format_key == "courtyard_talk", ConsultationSession.status == "scheduled",
            ConsultationSession.starts_at > now)).all()
        assert len(talks) == 8 and all(t.venue.endswith("家小院") for t in talks)
        assert len({t.host_id for t in talks}) >= 6
    assert any(s["status"] == "live" for s in info["sessions"])
    again = seed_demo(app, base_url="http://demo.test", now=now)  # idempotent
    assert len(again["sessions"]) == len(info["sessions"])
    feed = app.test_client().get("/c/renfu/calendar.ics")
    assert len(Calendar.from_ical(feed.data).walk("VEVENT")) >= 8


def test_the_rota_sheet_names_no_host_to_strangers(app, world, clock):
    """The printable rota lists every host of a month, proposed ones who have not said yes
    yet included, beside the venue of their home: the same plan the series page shows
    only to members. A stranger (or another community's member) gets no sheet."""
    series, plan = planned(app, world)
    slot = plan["slots"][0]
    host_role = role_of(world, slot["host"]["id"])
    host, hheaders = signed_in(app, world, host_role)
    assert host.post(f"{API}/slots/{slot['id']}/confirm", json={}, headers=hheaders).status_code == 200
    names = {"王阿婆", "张师傅", "李月昌"}
    sheet = f"/c/renfu/courtyard/{series['id']}/print?month=2026-03"
    anon = app.test_client().get(sheet)
    assert anon.status_code == 302 and "/sign-in" in anon.headers["Location"]
    assert not any(n in anon.get_data(as_text=True) for n in names)
    other = make_app_other_community(app)
    stranger = other.get(sheet)
    assert stranger.status_code in (403, 404) and not any(n in stranger.get_data(as_text=True) for n in names)
    member, _ = signed_in(app, world, "resident2")
    assert any(n in member.get(sheet).get_data(as_text=True) for n in names)


def make_app_other_community(app):
    """A signed-in member of another community on this server."""
    from tests.conftest import World as _World

    other = _World(app, slug="tuxin")
    client = app.test_client()
    other.login(client, "admin")
    return client

"""Bad numbers, dates and documents are a 4xx naming the field, never a 500: ids past
the database's range, JSON nested a thousand levels deep, year 9999, integers sent as
strings or fractions, line breaks in a redirect target; and when the error answer
itself cannot be translated, the client still gets the JSON error, not a bare 500."""

from __future__ import annotations

import json

import pytest

from tests.conftest import make_app
from tests.web.test_bad_text import _client, _setup

HUGE = 2**64


@pytest.fixture(params=["sqlite", "postgres"])
def any_app(request, tmp_path):
    if request.param == "sqlite":
        return make_app(tmp_path, TESTING=False)
    return make_app(tmp_path, TESTING=False, DATABASE_URL=request.getfixturevalue("fresh_postgres"))


def test_ids_and_query_numbers_past_the_database_range(any_app):
    app = any_app
    world = _setup(app)
    admin, headers = _client(app, world, "admin")
    api = f"/api/v1/communities/{world.slug}"
    for url in (f"{api}/motions/{HUGE}", f"{api}/issues/{HUGE}", f"{api}/motions/{2**31}",
                f"/c/{world.slug}/motions/{HUGE}", f"/c/{world.slug}/issues/{HUGE}"):
        assert admin.get(url).status_code == 404, url
    assert admin.post(f"{api}/issues/{2**33}/rate", headers=headers, json={"score": 2}).status_code == 404
    for url in (f"{api}/motions?session_id={HUGE}", f"{api}/issues?place={HUGE}", f"/c/{world.slug}/motions?session_id={HUGE}"):
        r = admin.get(url, headers={"Accept": "application/json"})
        assert r.status_code == 400, (url, r.status_code)
    r = admin.get(f"{api}/motions?session_id={HUGE}")
    assert "session_id" in r.get_json()["error"]["fields"]
    r = admin.post(f"{api}/issues", headers=headers, json={"title": "漏水", "category_key": "livelihood",
                                                          "place_id": HUGE})
    assert r.status_code == 400 and "place_id" in r.get_json()["error"]["fields"]


def test_json_nested_past_the_stack(app, world):
    admin, headers = _client(app, world, "admin")
    deep = "[" * 100_000 + "]" * 100_000
    r = admin.post(f"/api/v1/communities/{world.slug}/categories", headers=headers, data=deep,
                   content_type="application/json")
    assert r.status_code == 400, r.get_data(as_text=True)[:300]
    nested = {"key": "roads", "names": {"zh_CN": "路", "en": "Roads"}, "color": "#123456"}
    inner: object = "x"
    for _ in range(200):
        inner = [inner]
    nested["extra"] = inner
    r = admin.post(f"/api/v1/communities/{world.slug}/categories", headers=headers, json=nested)
    assert r.status_code == 400


def test_far_future_dates_and_months(app, world):
    admin, headers = _client(app, world, "admin")
    api = f"/api/v1/communities/{world.slug}"
    r = admin.post(f"{api}/sessions", headers=headers, json={
        "format_key": "courtyard_tea", "title": "海棠小院", "starts_at": "9999-12-31T23:00:00+08:00"})
    assert r.status_code == 400 and "starts_at" in r.get_json()["error"]["fields"], r.get_json()
    series = admin.post(f"{api}/rotation/series", headers=headers, json={"title": "海棠小院", "weekdays": [5]})
    assert series.status_code == 201, series.get_json()
    sid = series.get_json()["id"]
    for month in ("0000-01", "9999-12"):
        assert admin.get(f"{api}/rotation/series/{sid}/plan?month={month}").status_code == 400
        r = admin.post(f"{api}/rotation/series/{sid}/plan", headers=headers, json={"month": month})
        assert r.status_code == 400, (month, r.status_code)
        assert admin.get(f"/c/{world.slug}/courtyard/{sid}?month={month}").status_code == 400


@pytest.mark.parametrize("value", ["3", 3.5, True])
def test_json_integers_are_strict(app, world, value):
    client, headers = _client(app, world, "resident2")
    r = client.post(f"/api/v1/communities/{world.slug}/issues", headers=headers, json={
        "title": "漏水", "category_key": "livelihood", "place_id": value})
    assert r.status_code == 400 and "place_id" in r.get_json()["error"]["fields"], r.get_json()


def test_line_breaks_in_a_redirect_target_are_a_400(app, world):
    client = app.test_client()
    assert client.get("/lang/en?next=/x%0d%0aSet-Cookie:%20a=b").status_code == 400
    page = client.get("/sign-in")
    from tests.conftest import csrf_from

    r = client.post("/large-text", data={"on": "1", "next": "/x\r\nSet-Cookie: a=b", "csrf_token": csrf_from(page)})
    assert r.status_code in (302, 400) and "Set-Cookie: a=b" not in str(r.headers)


def test_the_error_answer_survives_a_failing_translation(app, world, monkeypatch):
    """The locale is looked up through a database session that is broken: the error is
    still the API's JSON (in the message ids' English), never the server's bare 500."""
    import web.i18n

    def broken() -> str:
        raise RuntimeError("This Session's transaction has been rolled back")

    monkeypatch.setattr(web.i18n, "select_locale_name", broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    client = app.test_client()
    r = client.get(f"/api/v1/communities/{world.slug}/motions/{2**20}")
    assert r.status_code == 404
    assert r.get_json()["error"]["message"] == "No such motion."
    r = client.get(f"/c/{world.slug}/issues/{2**20}", headers={"Accept": "text/html"})
    assert r.status_code in (302, 404) and r.status_code != 500


def test_the_documented_error_schema_does_not_refer_to_itself(client):
    doc = client.get("/api/openapi.json").get_json()
    schemas = doc["components"]["schemas"]
    assert schemas["Error"]["properties"]["error"]["$ref"] == "#/components/schemas/ErrorDetail"
    assert set(schemas["ErrorDetail"]["properties"]) == {"status", "message", "fields"}
    text = json.dumps(doc)
    assert '"$ref": "#/components/schemas/Error"' in text  # the responses use it

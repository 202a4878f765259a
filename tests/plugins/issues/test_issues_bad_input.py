"""Bad input gets a clear 4xx naming the field, and nothing is stored."""

from __future__ import annotations

import io
import re
import struct

import pytest

from tests.plugins.issues.issues_world import api, counts, png_bytes
from core.errors import Invalid
from core.services import issues as svc


def jpeg_header(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8" + app0 + sof + b"\xff\xd9"


def gif_header(w, h):
    return b"GIF89a" + struct.pack("<HH", w, h) + b"\x00\x00\x00" + b";"


def webp_vp8x(w, h):
    payload = b"\x00\x00\x00\x00" + (w - 1).to_bytes(3, "little") + (h - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", 4 + 8 + len(payload)) + b"WEBP" + b"VP8X" + struct.pack("<I", len(payload)) + payload


def test_image_sniffing():
    assert svc.inspect_image(png_bytes(7, 5)) == svc.ImageInfo("image/png", 7, 5)
    assert svc.inspect_image(jpeg_header(640, 480)) == svc.ImageInfo("image/jpeg", 640, 480)
    assert svc.inspect_image(gif_header(10, 20)) == svc.ImageInfo("image/gif", 10, 20)
    assert svc.inspect_image(webp_vp8x(1024, 768)) == svc.ImageInfo("image/webp", 1024, 768)
    for bad in (b"hello, I am a text file", b"<svg xmlns='http://www.w3.org/2000/svg'/>", b"\xff\xd8\xff\xe0",
                png_bytes(30000, 30000), jpeg_header(0, 10), b""):
        with pytest.raises(Invalid) as exc:
            svc.check_photos([bad]) if bad else svc.check_photos([b""])
        assert exc.value.field == "photos"


GOOD = {"title": "芙蓉中路三段违停", "description": "", "category_key": "environment"}


@pytest.mark.parametrize("change, field, status", [
    ({"title": "长" * 121}, "title", 400),
    ({"title": ""}, "title", 400),
    ({"description": "长" * 4001}, "description", 400),
    ({"category_key": "no-such-category"}, "category_key", 422),
    ({"place_id": 999999}, "place_id", 404),
    ({"place_id": "nine"}, "place_id", 400),
    ({"surprise": 1}, "surprise", 400),
    ({"on_behalf_of_id": 999999}, "on_behalf_of_id", 404),
])
def test_raise_refuses_bad_fields(app, client, iw, change, field, status):
    iw.login(client, "resident2")
    before = counts(app)
    body = {**GOOD, "place_id": iw.place_ids["building"], **change}
    r = api(client, iw, "post", "/issues", json=body)
    assert r.status_code == status, r.get_json()
    assert field in r.get_json()["error"]["fields"]
    assert counts(app) == before


@pytest.mark.parametrize("photo, name", [
    (b"I am a text file, not a photo\n" * 10, "photo.jpg"),
    (png_bytes()[:33] + b"\x00" * 100_010, "huge.png"),  # over the limit, lowered to 100 kB below
    (png_bytes(30000, 30000), "bomb.png"),
])
def test_raise_refuses_bad_photos(app, client, iw, photo, name, monkeypatch):
    # the same check as at 5 MB, on a smaller upload (werkzeug spools big test uploads to files)
    monkeypatch.setattr(svc, "MAX_PHOTO_BYTES", 100_000)
    iw.login(client, "resident2")
    before = counts(app)
    data = {**GOOD, "place_id": str(iw.place_ids["building"]), "photos": [(io.BytesIO(png_bytes()), "ok.png"),
                                                                         (io.BytesIO(photo), name)]}
    r = api(client, iw, "post", "/issues", data=data, content_type="multipart/form-data")
    assert r.status_code == 422, r.get_json()
    assert "photos" in r.get_json()["error"]["fields"]
    assert counts(app) == before


def test_too_many_photos(app, client, iw):
    iw.login(client, "resident2")
    before = counts(app)
    photos = [(io.BytesIO(png_bytes()), f"{i}.png") for i in range(svc.MAX_PHOTOS + 1)]
    r = api(client, iw, "post", "/issues", data={**GOOD, "place_id": str(iw.place_ids["building"]), "photos": photos},
            content_type="multipart/form-data")
    assert r.status_code == 422 and "photos" in r.get_json()["error"]["fields"] and counts(app) == before


def test_place_of_another_community_is_unknown(app, client, iw):
    other = type(iw)(app, slug="other")
    iw.login(client, "resident2")
    before = counts(app)
    r = api(client, iw, "post", "/issues", json={**GOOD, "place_id": other.place_ids["building"]})
    assert r.status_code == 404 and "place_id" in r.get_json()["error"]["fields"] and counts(app) == before


def test_form_errors_are_pages_not_500(app, client, iw):
    iw.login(client, "resident2")
    page = client.get(f"/c/{iw.slug}/issues/new")
    token = re.search(r'name="csrf-token" content="([^"]+)"', page.get_data(as_text=True)).group(1)
    before = counts(app)
    r = client.post(f"/c/{iw.slug}/issues/new", data={"csrf_token": token, **GOOD, "title": "长" * 121,
                                                      "place_id": str(iw.place_ids["building"])})
    assert r.status_code == 400 and "title" in r.get_data(as_text=True)
    r = client.post(f"/c/{iw.slug}/issues/new", data={"csrf_token": token, **GOOD,
                                                      "place_id": str(iw.place_ids["building"]),
                                                      "photos": (io.BytesIO(b"not an image"), "x.jpg")},
                    content_type="multipart/form-data", headers={"Referer": f"http://courtyard.test/c/{iw.slug}/issues/new"})
    assert r.status_code == 302  # back to the form, with the message flashed
    follow = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "照片须为 JPEG、PNG、WebP 或 GIF 图片" in follow  # in the community's language
    assert counts(app) == before


def test_bad_action_input(app, client, iw):
    iw.login(client, "resident2")
    issue = api(client, iw, "post", "/issues", json={**GOOD, "place_id": iw.place_ids["building"]}).get_json()
    staff = app.test_client()
    iw.login(staff, "admin")
    before = counts(app)
    for path, body, field in [
        ("assign", {"department_member_id": iw.ids["department"], "due_in_days": 0}, "due_in_days"),
        ("assign", {"department_member_id": iw.ids["resident"], "due_in_days": 3}, "department_member_id"),
        ("assign", {"department_member_id": iw.ids["department"]}, "due_at"),
        ("triage", {"decision": "maybe"}, "decision"),
        ("triage", {"decision": "reject", "reason": "长" * 501}, "reason"),
        ("triage", {"decision": "schedule", "session_id": 424242}, "session_id"),
        ("merge", {"into_id": 424242}, "into_id"),
    ]:
        r = api(staff, iw, "post", f"/issues/{issue['id']}/{path}", json=body)
        assert 400 <= r.status_code < 500 and field in r.get_json()["error"]["fields"], (path, body, r.get_json())
    r = api(staff, iw, "post", f"/issues/{issue['id']}/rate", json={"score": 6})
    assert r.status_code == 400 and "score" in r.get_json()["error"]["fields"]
    assert counts(app) == before

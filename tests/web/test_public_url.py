"""Links that leave the page (a printed sign-in card, a join QR code, the API's ``url``
fields) point at COURTYARD_PUBLIC_URL, never at the ``Host`` header of the request: the
shipped nginx passes the browser's Host through, so a forged one reached the app and a
sign-in card could be made to send its one-time token to another site."""

from __future__ import annotations

import pytest

from core.db import session_scope
from core.models import Member
from core.services import auth as auth_service
from tests.conftest import World, make_app

PUBLIC = "https://yishi.example.org"


def _token(app, world, role):
    with session_scope(app.extensions["courtyard"].sessionmaker) as db:
        return auth_service.issue_api_token(db, member=db.get(Member, world.ids[role]), label="probe")


def _setup(tmp_path, **config):
    app = make_app(tmp_path, SERVER_NAME=None, **config)
    world = World(app)
    return app, world, {"Authorization": f"Bearer {_token(app, world, 'admin')}"}


def _links(app, world, headers, host):
    client = app.test_client()
    base = f"http://{host}"
    card = client.post(f"/api/v1/communities/{world.slug}/sign-in-links", base_url=base, headers=headers,
                       json={"member_id": world.ids["resident"]})
    sessions = client.get(f"/api/v1/communities/{world.slug}/motions", base_url=base, headers=headers)
    return card, sessions


@pytest.mark.parametrize("host", ["evil.example", "yishi.example.org.evil.example", "evil.example:443"])
def test_a_forged_host_gets_no_link_to_itself(tmp_path, host):
    app, world, headers = _setup(tmp_path, PUBLIC_URL=PUBLIC)
    card, _ = _links(app, world, headers, host)
    assert "evil.example" not in card.get_data(as_text=True)
    assert card.status_code == 400
    for path in (f"/c/{world.slug}", f"/c/{world.slug}/sessions/1", "/sign-in", "/api/v1/communities"):
        page = app.test_client().get(path, base_url=f"http://{host}")
        assert page.status_code == 400, (path, page.status_code)  # refused, not a server error


@pytest.mark.parametrize("host", ["yishi.example.org", "127.0.0.1:8000", "localhost:8001"])
def test_links_point_at_the_public_url_whatever_host_asked(tmp_path, host):
    app, world, headers = _setup(tmp_path, PUBLIC_URL=PUBLIC + "/")
    card, _ = _links(app, world, headers, host)
    assert card.status_code == 201, card.get_json()
    assert card.get_json()["url"].startswith(PUBLIC + "/s/")


def test_extra_trusted_hosts_and_no_public_url(tmp_path):
    app, world, headers = _setup(tmp_path, PUBLIC_URL=PUBLIC, TRUSTED_HOSTS_EXTRA="yishi.internal, .example.net")
    for host in ("yishi.internal", "a.example.net"):
        card, _ = _links(app, world, headers, host)
        assert card.status_code == 201 and card.get_json()["url"].startswith(PUBLIC + "/s/")
    # a laptop without a public address: links follow the host asked, as before
    (tmp_path / "laptop").mkdir()
    app2, world2, headers2 = _setup(tmp_path / "laptop")
    card, _ = _links(app2, world2, headers2, "127.0.0.1:5000")
    assert card.get_json()["url"].startswith("http://127.0.0.1:5000/s/")


def test_a_public_url_that_is_not_one_is_reported():
    from web.config import problems
    from web.config import load_config

    assert any("COURTYARD_PUBLIC_URL" in p for p in problems(load_config({"PUBLIC_URL": "yishi.example.org",
                                                                          "SECRET_KEY": "x" * 40},
                                                                         check=False)))
    assert not any("COURTYARD_PUBLIC_URL" in p for p in problems(load_config({"PUBLIC_URL": PUBLIC,
                                                                              "SECRET_KEY": "x" * 40},
                                                                         check=False)))


def test_calendar_uids_name_the_public_address_whichever_address_the_feed_is_read_by(tmp_path):
    """A calendar app that subscribed through the public address and a monitor reading
    through loopback see the same event ids: one talk, never two."""
    from datetime import datetime, timezone

    from core.models import Community
    from core.services import sessions as ss

    app, world, _ = _setup(tmp_path, PUBLIC_URL=PUBLIC, TRUSTED_HOSTS_EXTRA="courtyard.internal")
    cy = app.extensions["courtyard"]
    with session_scope(cy.sessionmaker) as db:
        now = datetime.now(timezone.utc)
        ss.create_session(db, actor=None, catalog=cy.catalog, community=db.get(Community, world.community_id),
                          format_key="representative_assembly", title="居民代表会议", starts_at=now,
                          host_id=world.ids["host"], status="scheduled", now=now, agenda=["表决"])
    feeds = [app.test_client().get(f"/c/{world.slug}/calendar.ics", base_url=f"http://{host}")
             for host in ("yishi.example.org", "127.0.0.1", "courtyard.internal")]
    assert [f.status_code for f in feeds] == [200, 200, 200]
    uids = [sorted(line for line in f.get_data(as_text=True).splitlines() if line.startswith("UID:")) for f in feeds]
    assert uids[0] and uids[0] == uids[1] == uids[2]
    assert all(u.endswith("@yishi.example.org") for u in uids[0])

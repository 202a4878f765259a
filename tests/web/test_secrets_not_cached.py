"""A response that carries a secret — a one-time sign-in link (the printed card, the API,
the page the link opens), a personal calendar feed's link, a secret ballot's change
code — says ``Cache-Control: no-store``: at the grid office's shared computer the next
person must not find a grid head's sign-in card in the browser's cache or behind the back
button, still unused."""

from __future__ import annotations

from tests.conftest import csrf_from
from tests.plugins.voting.voting_world import vote_app, vote_clock, vw  # noqa: F401  (fixtures)


def _no_store(response) -> bool:
    return "no-store" in (response.headers.get("Cache-Control") or "")


def test_sign_in_links_and_calendar_links_are_not_kept(vw):
    admin, headers = vw.http("admin")
    api = admin.post(f"/api/v1/communities/{vw.slug}/sign-in-links", json={"member_id": vw.ids["resident"]},
                     headers=headers)
    assert api.status_code == 201 and "/s/" in api.get_json()["url"]
    card = admin.post(f"/c/{vw.slug}/members/{vw.ids['resident']}/sign-in-link",
                      data={"csrf_token": csrf_from(admin.get(f"/c/{vw.slug}/residents"))})
    assert card.status_code == 200 and "/s/" in card.get_data(as_text=True)
    opened = vw.app.test_client().get(api.get_json()["url"].replace("http://courtyard.test", ""))
    assert opened.status_code == 200
    feed = admin.post(f"/api/v1/communities/{vw.slug}/rotation/calendar-token", json={}, headers=headers)
    assert feed.status_code == 201 and "/calendar/" in feed.get_json()["url"]
    page = admin.post(f"/c/{vw.slug}/courtyard/calendar",
                      data={"csrf_token": csrf_from(admin.get(f"/c/{vw.slug}/courtyard/calendar"))})
    assert page.status_code == 200 and "/calendar/" in page.get_data(as_text=True)
    kept = [name for name, r in (("api", api), ("card", card), ("link page", opened), ("feed api", feed),
                                 ("feed page", page)) if not _no_store(r)]
    assert kept == []
    # an ordinary page is cached as before
    assert not _no_store(admin.get(f"/c/{vw.slug}"))


def test_a_secret_ballots_change_code_is_not_kept(vw):
    m = vw.motion(method="plurality", options=["东片", "西片"], secret=True)
    r = vw.vote("resident2", m["id"], {"choice": "东片"})
    assert r.status_code == 201 and r.get_json()["voter_key"]
    assert _no_store(r)

"""An anonymous "find my receipt" on an open secret ballot costs one indexed read: it
never opens the sealed ballots waiting to be written out (before, every request decrypted
every one of them — a stranger could make the server do AES work in a loop). A receipt not
yet written out answers "not published yet"; after the close it is found."""

from __future__ import annotations

import pytest

from core.services import votes as svc
from tests.conftest import make_app
from tests.plugins.voting.voting_world import VoteWorld, vote_clock  # noqa: F401

VOTERS = ["admin", "moderator", "grid_head", "other_grid_head", "department", "resident", "resident2"]


@pytest.fixture
def world(tmp_path, vote_clock):  # noqa: F811
    # nothing is written out while the vote is open: every ballot stays sealed
    return VoteWorld(make_app(tmp_path, VOTING_CLOCK=vote_clock, DISCUSSION_CLOCK=vote_clock, VOTING_MIX_MIN=1000),
                     vote_clock)


def test_anonymous_receipt_lookup_opens_no_sealed_ballot(world, monkeypatch):
    m = world.motion(method="plurality", options=["东片", "西片"], secret=True)["id"]
    receipts = []
    for role in VOTERS:
        r = world.vote(role, m, {"choice": "东片"}, cid=f"cid-{role}")
        assert r.status_code in (200, 201), r.get_json()
        receipts.append(r.get_json()["receipt"])

    opened = []
    real = svc.open_sealed
    monkeypatch.setattr(svc, "open_sealed", lambda *a, **k: opened.append(1) or real(*a, **k))
    stranger = world.app.test_client()
    url = f"/api/v1/communities/{world.slug}/motions/{m}/receipts"
    for receipt in [receipts[-1], "0" * 64, receipts[0]]:
        r = stranger.get(f"{url}/{receipt}")
        assert r.status_code == 404, r.get_json()
        assert "还没公布" in r.get_json()["error"]["message"]
        page = stranger.get(f"/c/{world.slug}/motions/{m}/receipts?receipt={receipt}")
        assert page.status_code == 200 and b"data-not-yet" in page.data
    assert len(opened) == 0  # before: up to every sealed ballot (7 here) opened per lookup
    monkeypatch.setattr(svc, "open_sealed", real)

    assert world.api("host", "POST", f"/motions/{m}/close").status_code == 200
    found = stranger.get(f"{url}/{receipts[-1]}")
    assert found.status_code == 200 and found.get_json()["choice"] == "东片"
    gone = stranger.get(f"{url}/{'0' * 64}")
    assert gone.status_code == 404 and "不在已计入" in gone.get_json()["error"]["message"]


def test_the_motions_list_is_bounded(world):
    for i in range(4):
        world.motion(title=f"第{i}项")
    stranger = world.app.test_client()
    url = f"/api/v1/communities/{world.slug}/motions"
    assert len(stranger.get(url).get_json()) == 4
    assert len(stranger.get(f"{url}?limit=2").get_json()) == 2  # before: 4 (no bound at all)
    for bad in ("0", "501", "x"):
        r = stranger.get(f"{url}?limit={bad}")
        assert r.status_code == 400 and "limit" in r.get_json()["error"]["fields"]
    assert stranger.get(f"/c/{world.slug}/motions?limit=2").status_code == 200
    doc = stranger.get("/api/openapi.json").get_json()
    params = next(v for k, v in doc["paths"].items() if k.endswith("/communities/{slug}/motions"))["get"]["parameters"]
    assert any(p["name"] == "limit" and p["in"] == "query" for p in params)

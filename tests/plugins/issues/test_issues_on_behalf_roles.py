"""A grid head raises issues for the residents they look after, never in the name of a
member who holds a role (the host living in the grid, another head, staff)."""

from __future__ import annotations

import re

from tests.plugins.issues.issues_world import counts


def test_a_grid_head_cannot_raise_an_issue_in_the_hosts_name(app, client, iw):
    iw.login(client, "grid_head")
    html = client.get(f"/c/{iw.slug}/issues/new").get_data(as_text=True)
    assert "王阿婆" in html and "李月昌" not in html  # the host lives in the grid too
    token = re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)
    before = counts(app)
    r = client.post(f"/c/{iw.slug}/issues/new", data={
        "csrf_token": token, "title": "院长说的", "description": "", "category_key": "livelihood",
        "place_id": str(iw.place_ids["unit"]), "on_behalf_of_id": str(iw.ids["host"])})
    assert r.status_code == 403
    assert counts(app) == before

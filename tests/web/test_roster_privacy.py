"""Phones and rooms a roster brings in are personal data: the pages and the API that
existed before the roster show neither, to staff or anyone else (docs/roster.md)."""

from __future__ import annotations

import json

from core.db import session_scope
from core.models import Community
from core.roster import read_roster
from core.services.roster import import_roster

ROSTER = ("姓名,手机号,网格,楼栋,单元,房号,角色\n"
          "钟阿姨,13812349876,东片网格,9栋,9栋1单元,1702,居民\n"
          "黄大爷,13912348765,东片网格,9栋,9栋1单元,1703,居民\n")


def test_imported_phones_and_rooms_appear_on_no_page_and_in_no_api_answer(app, client, world):
    with session_scope(app.extensions["courtyard"].sessionmaker) as db:
        result = import_roster(db, actor=None, community=db.get(Community, world.community_id),
                               roster=read_roster(ROSTER.encode()))
        assert result.applied and result.members["created"] == 2
    secrets = ("13812349876", "138****9876", "9876", "+8613912348765", "8765", "1702", "1703")
    for role in ("admin", "grid_head"):
        world.login(client, role)
        residents = client.get("/c/renfu/residents").get_data(as_text=True)
        assert "钟阿姨" in residents  # the page lists them...
        seen = [residents]
        for path in ("/api/v1/communities", "/api/v1/communities/renfu", "/api/v1/communities/renfu/sessions",
                     "/api/openapi.json"):
            response = client.get(path)
            assert response.status_code == 200, path
            seen.append(json.dumps(response.get_json(), ensure_ascii=False))
        for text in seen:  # ...but not how to reach them or where they live
            assert not [s for s in secrets if s in text]

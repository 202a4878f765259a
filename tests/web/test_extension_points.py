"""A one-off community plugin adds a format and a category; both show in the UI and the
API where the plugin is enabled, and vanish where it is not."""

from __future__ import annotations

from core.plugins import hookimpl
from core.registry import Category, SessionFormat
from tests.conftest import World, csrf_from, make_app


class MediationPlugin:
    plugin_name = "mediation"

    @hookimpl
    def courtyard_register_formats(self, register):
        register(SessionFormat("mediation", {"zh_CN": "调解会", "en": "Mediation meeting"}, default_capacity=6))

    @hookimpl
    def courtyard_register_categories(self, register):
        register(Category("neighbours", {"zh_CN": "邻里纠纷", "en": "Neighbour disputes"}, "#7c3aed"))


def test_plugin_contributions_appear_where_enabled(tmp_path):
    app = make_app(tmp_path, EXTRA_PLUGINS=[MediationPlugin()])
    world = World(app)
    World(app, slug="tuxin")
    client = app.test_client()
    # an installed community plugin is off until a community turns it on
    assert "neighbours" not in [c["key"] for c in client.get("/api/v1/communities/renfu/categories").json]
    world.login(client, "admin")
    headers = world.api_headers(client)
    r = client.put("/api/v1/communities/renfu/plugins/mediation", json={"enabled": True}, headers=headers)
    assert r.status_code == 200

    formats = {f["key"]: f for f in client.get("/api/v1/communities/renfu/formats?lang=en").json}
    assert formats["mediation"]["default_capacity"] == 6
    assert "neighbours" in [c["key"] for c in client.get("/api/v1/communities/renfu/categories").json]
    assert "neighbours" not in [c["key"] for c in client.get("/api/v1/communities/tuxin/categories").json]

    page = client.get("/c/renfu").get_data(as_text=True)
    assert "邻里纠纷" in page
    assert "邻里纠纷" not in client.get("/c/tuxin").get_data(as_text=True)

    r = client.post("/api/v1/communities/renfu/sessions", headers=headers, json={
        "format_key": "mediation", "title": "9栋顶楼与底楼雨水管纠纷", "starts_at": "2030-03-01T10:00:00+08:00",
        "category_key": "neighbours", "status": "scheduled"})
    assert r.status_code == 201 and r.json["capacity"] == 6
    assert "调解会" in client.get(f"/c/renfu/sessions/{r.json['id']}").get_data(as_text=True)

    # turned off again: its format can no longer be chosen, its data stays
    client.put("/api/v1/communities/renfu/plugins/mediation", json={"enabled": False}, headers=headers)
    r2 = client.post("/api/v1/communities/renfu/sessions", headers=headers, json={
        "format_key": "mediation", "title": "x", "starts_at": "2030-03-01T10:00:00+08:00"})
    assert r2.status_code == 422 and "format_key" in r2.json["error"]["fields"]
    assert client.get(f"/api/v1/communities/renfu/sessions/{r.json['id']}").status_code == 200

    admin_page = client.get("/c/renfu/admin/plugins")
    assert 'data-plugin="mediation"' in admin_page.get_data(as_text=True)
    assert csrf_from(admin_page)


def test_a_residents_cannot_enable_plugins(tmp_path):
    app = make_app(tmp_path, EXTRA_PLUGINS=[MediationPlugin()])
    world = World(app)
    client = app.test_client()
    world.login(client, "host")
    r = client.put("/api/v1/communities/renfu/plugins/mediation", json={"enabled": True},
                   headers=world.api_headers(client))
    assert r.status_code == 403
    r = client.put("/api/v1/communities/renfu/plugins/nonexistent", json={"enabled": True},
                   headers=world.api_headers(client))
    assert r.status_code in (403, 422)

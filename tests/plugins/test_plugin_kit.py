"""The plugin kit's fixtures, per-community gating of a plugin's routes, a plugin's live
namespace and its own translation domain — what a community plugin relies on."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask_socketio import emit

from core.plugins import hookimpl
from web import plugin_api

PO = '''msgid ""
msgstr ""
"Content-Type: text/plain; charset=UTF-8\\n"

msgid "Good morning"
msgstr "早上好"
'''


def make_plugin(translations_dir):
    bp = Blueprint("plugin_demo", __name__)

    @bp.get("/c/<slug>/demo")
    def page(slug):
        return jsonify(greeting=plugin_api.translations("courtyard_demo").gettext("Good morning"),
                       community=plugin_api.community(slug).slug)

    @bp.get("/demo-about")
    def about():
        return "about the demo plugin"

    class Demo:
        plugin_name = "demo"

        @hookimpl
        def courtyard_register_blueprints(self, register):
            register(bp)

        @hookimpl
        def courtyard_register_translations(self, register):
            register(str(translations_dir), "courtyard_demo")

        @hookimpl
        def courtyard_register_socket_handlers(self, socketio):
            @socketio.on("ping", namespace="/demo")
            def ping(data):
                emit("pong", {"echo": data, "member": getattr(plugin_api.current_member(), "id", None)})

    return Demo()


def _translations(tmp_path):
    d = tmp_path / "tr"
    (d / "zh_CN" / "LC_MESSAGES").mkdir(parents=True)
    (d / "zh_CN" / "LC_MESSAGES" / "courtyard_demo.po").write_text(PO, encoding="utf-8")
    return d


def test_routes_answer_only_where_the_plugin_is_enabled(tmp_path, courtyard_make_app, courtyard_make_community):
    app = courtyard_make_app([make_plugin(_translations(tmp_path))])
    on = courtyard_make_community("renfu", app=app)
    off = courtyard_make_community("haitang", app=app, enable=[])
    client = app.test_client()
    assert client.get(f"/c/{on.slug}/demo?lang=en").get_json() == {"greeting": "Good morning", "community": "renfu"}
    assert client.get(f"/c/{off.slug}/demo").status_code == 404
    assert client.get("/c/nowhere/demo").status_code == 404
    assert client.get("/demo-about").status_code == 200  # no community: not gated
    on.disable("demo")
    assert client.get(f"/c/{on.slug}/demo").status_code == 404
    assert app.extensions["courtyard"].blueprint_owners["plugin_demo"] == "demo"


def test_a_plugin_translates_in_its_own_domain_compiled_at_start(tmp_path, courtyard_make_app,
                                                                 courtyard_make_community):
    translations = _translations(tmp_path)
    app = courtyard_make_app([make_plugin(translations)])
    assert (translations / "zh_CN" / "LC_MESSAGES" / "courtyard_demo.mo").exists()
    community = courtyard_make_community("renfu", app=app)
    client = app.test_client()
    assert client.get(f"/c/{community.slug}/demo?lang=zh_CN").get_json()["greeting"] == "早上好"


def test_kit_fixtures_give_a_community_members_and_a_live_client(tmp_path, courtyard_make_app,
                                                                 courtyard_make_community, courtyard_socket_client):
    app = courtyard_make_app([make_plugin(_translations(tmp_path))])
    community = courtyard_make_community("renfu", app=app)
    assert set(community.members) >= {"admin", "moderator", "host", "grid_head", "department", "resident"}
    client = app.test_client()
    community.login(client, "resident")
    live = courtyard_socket_client("/demo", client=client)
    live.emit("ping", {"n": 1}, namespace="/demo")
    received = live.get_received("/demo")
    assert received == [{"name": "pong", "args": [{"echo": {"n": 1}, "member": community.members["resident"]}],
                         "namespace": "/demo"}]


def test_the_default_kit_app_and_db(courtyard_app, courtyard_db, courtyard_community, courtyard_client):
    from core.models import Member

    assert courtyard_db.get(Member, courtyard_community.members["admin"]).display_name == "计菲菲"
    assert courtyard_client.get("/healthz").status_code == 200

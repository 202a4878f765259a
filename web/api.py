"""The JSON API under ``/api/v1``. Input and output go through marshmallow schemas;
errors are ``{"error": {"status", "message", "fields"}}`` in the caller's language."""

from __future__ import annotations

from typing import Any, Callable

from flask import Blueprint, abort, g, jsonify, url_for
from flask_babel import get_locale

from core.models import Community, ConsultationSession
from core.services import categories as categories_service
from core.services import communities as communities_service
from core.services import plugins as plugins_service
from core.services import sessions as sessions_service
from core.services.access import community_by_slug, require_member
from core.services.notifications import inbox
from core.plugins import hooks_implemented, plugin_names
from web import schemas as s
from web.auth import current_member
from web.db import commit, get_db
from web.extensions import current_courtyard
from web.security import holds_secret

bp = Blueprint("api", __name__, url_prefix="/api/v1")

#: (rule endpoint) -> documentation for the OpenAPI document
API_DOCS: dict[str, dict[str, Any]] = {}


def doc(summary: str, *, body: type | None = None, response: type | None = None, many: bool = False,
        status: int = 200, query: type | None = None) -> Callable:
    def decorate(fn: Callable) -> Callable:
        entry = dict(summary=summary, body=body, response=response, many=many, status=status, query=query)
        API_DOCS[f"{bp.name}.{fn.__name__}"] = entry
        fn._api_doc = entry  # found by endpoint on any blueprint (plugins use @doc too)
        return fn

    return decorate


def locale() -> str:
    return str(get_locale())


def require_signed_in():
    member = current_member()
    if member is None:
        abort(401)
    return member


@bp.url_value_preprocessor
def _community(endpoint: str | None, values: dict[str, Any] | None) -> None:
    if values and "slug" in values:
        g.community = community_by_slug(get_db(), values["slug"])


def dump_community(c: Community) -> dict[str, Any]:
    return s.CommunitySchema().dump({"id": c.id, "slug": c.slug, "name": c.name(locale()), "names": c.names,
                                     "default_locale": c.default_locale, "timezone": c.timezone})


def dump_session(session: ConsultationSession) -> dict[str, Any]:
    data = s.SessionSchema().dump(session)
    if not sessions_service.can_see_join_code(get_db(), current_member(), session):
        data["join_code"] = None  # the code is for the community's members, never listed to strangers
    data["community"] = g.community.slug
    data["url"] = url_for("views.session_page", slug=g.community.slug, session_id=session.id, _external=True)
    return data


@bp.get("/communities")
@doc("List communities", response=s.CommunitySchema, many=True)
def communities():
    return jsonify([dump_community(c) for c in communities_service.list_communities(get_db())])


@bp.get("/communities/<slug>")
@doc("One community", response=s.CommunitySchema)
def community(slug: str):
    return jsonify(dump_community(g.community))


@bp.get("/communities/<slug>/formats")
@doc("Session formats enabled in the community", response=s.FormatSchema, many=True)
def formats(slug: str):
    cy = current_courtyard()
    enabled = plugins_service.enabled_checker(get_db(), g.community.id, cy.pm)
    out = []
    for fmt in cy.catalog.formats.all(enabled):
        out.append(s.FormatSchema().dump({**fmt.__dict__, "name": fmt.name(locale()),
                                          "description": fmt.description(locale())}))
    return jsonify(out)


@bp.get("/communities/<slug>/categories")
@doc("Topic categories of the community", response=s.CategorySchema, many=True)
def categories(slug: str):
    cats = categories_service.list_categories(get_db(), current_courtyard().catalog, g.community)
    return jsonify([s.CategorySchema().dump({"key": c.key, "name": c.name(locale()), "names": dict(c.names),
                                             "color": c.color}) for c in cats])


@bp.post("/communities/<slug>/categories")
@doc("Define a category of the community's own (staff)", body=s.CategoryInSchema, response=s.CategorySchema,
     status=201)
def create_category(slug: str):
    actor = require_signed_in()
    data = s.load_json(s.CategoryInSchema())
    cat = categories_service.create_category(get_db(), actor=actor, catalog=current_courtyard().catalog,
                                             community=g.community, **data)
    response = jsonify(s.CategorySchema().dump({"key": cat.key, "name": cat.name(locale()), "names": dict(cat.names),
                                                "color": cat.color}))
    commit()  # after the answer is made: a failure making it leaves nothing written
    return response, 201


@bp.get("/communities/<slug>/sessions")
@doc("Sessions of the community, soonest first", response=s.SessionSchema, many=True, query=s.SessionListArgs)
def sessions(slug: str):
    args = s.load_args(s.SessionListArgs())
    items = sessions_service.list_sessions(get_db(), community=g.community, viewer=current_member(),
                                           upcoming_only=args["upcoming"], category_key=args["category"],
                                           limit=args["limit"])
    return jsonify([dump_session(x) for x in items])


@bp.post("/communities/<slug>/sessions")
@doc("Schedule a session (staff, hosts, grid heads)", body=s.SessionInSchema, response=s.SessionSchema, status=201)
def create_session(slug: str):
    actor = require_signed_in()
    data = s.load_json(s.SessionInSchema())
    session = sessions_service.create_session(get_db(), actor=actor, catalog=current_courtyard().catalog,
                                              community=g.community, **data)
    response = jsonify(dump_session(session))
    commit()  # after the answer is made
    return response, 201


def _session(session_id: int) -> ConsultationSession:
    session = sessions_service.get_session(get_db(), session_id, community_id=g.community.id)
    if session.status == "draft" and not sessions_service.can_run(get_db(), current_member(), session):
        abort(404)
    return session


@bp.get("/communities/<slug>/sessions/<int:session_id>")
@doc("One session with its agenda", response=s.SessionSchema)
def session(slug: str, session_id: int):
    return jsonify(dump_session(_session(session_id)))


@bp.patch("/communities/<slug>/sessions/<int:session_id>")
@doc("Change a session (its host or staff); send `version` to detect concurrent edits", body=s.SessionPatchSchema,
     response=s.SessionSchema)
def update_session(slug: str, session_id: int):
    actor = require_signed_in()
    data = s.load_json(s.SessionPatchSchema())
    version = data.pop("version", None)
    session = sessions_service.update_session(get_db(), actor=actor, catalog=current_courtyard().catalog,
                                              session=_session(session_id), changes=data, expected_version=version)
    response = jsonify(dump_session(session))
    commit()  # after the answer is made
    return response


@bp.post("/communities/<slug>/sessions/<int:session_id>/status")
@doc("Move a session: draft → scheduled → live → closed", body=s.StatusInSchema, response=s.SessionSchema)
def session_status(slug: str, session_id: int):
    actor = require_signed_in()
    data = s.load_json(s.StatusInSchema())
    session = sessions_service.change_status(get_db(), actor=actor, session=_session(session_id),
                                             status=data["status"])
    response = jsonify(dump_session(session))
    commit()  # after the answer is made
    return response


@bp.post("/communities/<slug>/sessions/<int:session_id>/agenda")
@doc("Add an agenda item", body=s.AgendaItemInSchema, response=s.AgendaItemSchema, status=201)
def add_agenda_item(slug: str, session_id: int):
    actor = require_signed_in()
    data = s.load_json(s.AgendaItemInSchema())
    item = sessions_service.add_agenda_item(get_db(), actor=actor, catalog=current_courtyard().catalog,
                                            session=_session(session_id), **data)
    response = jsonify(s.AgendaItemSchema().dump(item))
    commit()  # after the answer is made
    return response, 201


@bp.get("/communities/<slug>/plugins")
@doc("Plugins and whether each is enabled in the community")
def community_plugins(slug: str):
    cy = current_courtyard()
    enabled = plugins_service.enabled_checker(get_db(), g.community.id, cy.pm)
    return jsonify([{"name": n, "builtin": cy.pm.is_builtin(n), "enabled": enabled(n),
                     "hooks": hooks_implemented(cy.pm, n)} for n in plugin_names(cy.pm)])


@bp.put("/communities/<slug>/plugins/<name>")
@doc("Enable or disable a plugin in the community (admins)", body=s.PluginToggleSchema)
def toggle_plugin(slug: str, name: str):
    actor = require_signed_in()
    data = s.load_json(s.PluginToggleSchema())
    row = plugins_service.set_enabled(get_db(), actor=actor, pm=current_courtyard().pm, community_id=g.community.id,
                                      name=name, enabled=data["enabled"])
    commit()
    return jsonify({"name": name, "enabled": row.enabled})


@bp.get("/me")
@doc("The signed-in member", response=s.MeSchema)
def me():
    member = require_signed_in()
    community = get_db().get(Community, member.community_id)
    return jsonify(s.MeSchema().dump({
        "id": member.id, "display_name": member.display_name, "community": community.slug,
        "roles": [{"role": r.role, "place_id": r.place_id} for r in member.roles],
        "locale": member.locale, "large_text": member.large_text,
    }))


@bp.patch("/me")
@doc("Change my language or text size", body=s.PreferencesSchema, response=s.MeSchema)
def update_me():
    member = require_signed_in()
    data = s.load_json(s.PreferencesSchema())
    communities_service.update_preferences(get_db(), actor=member, **data)
    commit()
    return me()


@bp.get("/me/notifications")
@doc("My in-app inbox, newest first")
def notifications():
    member = require_signed_in()
    return jsonify([{"id": n.id, "kind": n.kind, "message": n.message, "params": n.params, "link": n.link,
                     "created_at": n.created_at.isoformat(), "read": n.read_at is not None}
                    for n in inbox(get_db(), actor=member)])


@bp.get("/communities/<slug>/sign-in-links")
@doc("Sign-in links issued for members of the community: who issued each, for whom, when, used or not (admins)",
     response=s.IssuedSignInLinkSchema, many=True, query=s.SignInLinkListArgs)
def sign_in_links(slug: str):
    from core.services import auth as auth_service

    actor = require_signed_in()
    limit = s.load_args(s.SignInLinkListArgs())["limit"]
    links = auth_service.list_sign_in_links(get_db(), actor=actor, community_id=g.community.id, limit=limit)
    return jsonify(s.IssuedSignInLinkSchema(many=True).dump(links))


@bp.post("/communities/<slug>/sign-in-links")
@doc("Make a one-time sign-in link: an admin for any member; staff or the head of their place only for a resident"
     " who holds no other role", body=s.SignInLinkInSchema, response=s.SignInLinkSchema, status=201)
def sign_in_link(slug: str):
    from core.services import auth as auth_service
    from core.services.communities import get_member

    actor = require_signed_in()
    require_member(actor, g.community.id)
    data = s.load_json(s.SignInLinkInSchema())
    resident = get_member(get_db(), data["member_id"], g.community.id)
    token = auth_service.issue_sign_in_token(get_db(), actor=actor, member=resident)
    commit()
    holds_secret()
    return jsonify({"member_id": resident.id, "url": url_for("auth.sign_in_link", token=token, _external=True)}), 201

"""Wiring what plugins contribute to the web edge: their blueprints (gated per
community) and their translation domains."""

from __future__ import annotations

import logging
import os
from typing import Any

import pluggy
from flask import Flask, abort, request
from flask_babel import Domain
from sqlalchemy import select

from core.models import Community
from core.plugins import collect
from core.services import plugins as plugin_settings

log = logging.getLogger("courtyard.plugins")

PREFIX = "plugin_"


def _unpack(obj: Any) -> tuple[Any, tuple[Any, ...], dict[str, Any]]:
    if isinstance(obj, tuple) and len(obj) == 3 and isinstance(obj[1], tuple) and isinstance(obj[2], dict):
        return obj
    return obj, (), {}


def init_app(app: Flask, pm: pluggy.PluginManager) -> None:
    cy = app.extensions["courtyard"]
    for plugin, obj in collect(pm, "courtyard_register_blueprints"):
        blueprint, args, kwargs = _unpack(obj)
        url_prefix = kwargs.get("url_prefix", args[0] if args else None)
        if not getattr(pm, "is_builtin", lambda n: True)(plugin) and blueprint.name != f"{PREFIX}{plugin}":
            log.warning("plugin %s registers blueprint %r; name it %r", plugin, blueprint.name, f"{PREFIX}{plugin}")
        try:
            app.register_blueprint(blueprint, url_prefix=url_prefix)
        except Exception as exc:  # a clash must not stop the server
            log.exception("plugin %s: blueprint %s could not be registered", plugin, blueprint.name)
            from core.plugins import _record_failure

            _record_failure(pm, plugin, f"blueprint {blueprint.name}: {type(exc).__name__}: {exc}")
            continue
        cy.blueprint_owners[blueprint.name] = plugin

    for plugin, obj in collect(pm, "courtyard_register_translations"):
        directory, args, kwargs = _unpack(obj)
        domain = kwargs.get("domain", args[0] if args else f"courtyard_{plugin}")
        from web.plugin_api import compile_catalogues

        compile_catalogues(directory, domain)
        # the plugin's catalogue over Courtyard's own, so a plugin page that extends
        # base.html keeps the layout's strings translated
        main = os.path.join(app.root_path, "translations")
        cy.translation_domains[domain] = Domain(translation_directories=[main, str(directory)],
                                                domain=f"messages;{domain}")

    @app.before_request
    def _gate_plugin_routes() -> None:
        """A plugin's routes under a community (a ``slug`` URL argument) answer 404 where
        the plugin is disabled or blocked; its data stays."""
        blueprints = request.blueprints
        if not blueprints or not request.view_args or "slug" not in request.view_args:
            return
        top = blueprints[-1]
        plugin = cy.blueprint_owners.get(top)
        if plugin is None and top.startswith(PREFIX):
            plugin = top[len(PREFIX):]
        if plugin is None:
            return
        from web.db import get_db

        db = get_db()
        community_id = db.scalar(select(Community.id).where(Community.slug == request.view_args["slug"]))
        if community_id is None:
            abort(404)
        if not plugin_settings.enabled_checker(db, community_id, pm)(plugin):
            abort(404)

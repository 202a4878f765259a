"""Courtyard's web edge: the Flask application factory.

``create_app(config)`` wires the database, the plugin manager, translations, sign-in,
CSRF protection, the JSON API and the live (Socket.IO) server. Everything a plugin
contributes arrives through the hooks in :mod:`core.hookspecs`.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

from flask import Flask

from core.catalog import Catalog
from core.db import Base, make_engine, make_sessionmaker
from core.plugins import make_plugin_manager
from web.config import engine_options, load_config
from web.db import session_info
from web.extensions import Courtyard, babel, csrf, login_manager, make_socketio

log = logging.getLogger("courtyard.web")


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    from web import public_url

    app = public_url.CourtyardFlask(__name__, instance_relative_config=False)
    app.config.update(load_config(config))
    public_url.init_app(app)  # external links on COURTYARD_PUBLIC_URL, other Host headers refused
    from web import inputs

    inputs.init_app(app)  # ids, JSON and the request gate, before any route or preprocessor

    engine = make_engine(app.config["DATABASE_URL"], **engine_options(app.config))
    if app.config.get("CREATE_TABLES"):  # tests on a throwaway database
        Base.metadata.create_all(engine)
    pm = make_plugin_manager(entrypoints=app.config["PLUGIN_ENTRYPOINTS"], blocked=app.config["BLOCKED_PLUGINS"])
    extra = app.config.get("EXTRA_PLUGINS") or ()
    for plugin in extra:  # one-off plugins in tests; ``(name, plugin)`` names one explicitly
        if isinstance(plugin, tuple):
            name, plugin = plugin
        else:
            name = getattr(plugin, "plugin_name", None) or getattr(plugin, "__name__", None) or type(plugin).__name__
        pm.register(plugin, name=getattr(plugin, "plugin_name", name))
        if getattr(plugin, "builtin", False):
            pm.builtin_names.add(getattr(plugin, "plugin_name", name))
    courtyard = Courtyard(app, engine=engine, sessionmaker=make_sessionmaker(engine, session_info(app.config)), pm=pm, catalog=Catalog(pm))
    app.extensions["courtyard"] = courtyard

    from web import i18n

    babel.init_app(app, locale_selector=i18n.select_locale, timezone_selector=i18n.select_timezone,
                   default_translation_directories="translations")
    csrf.init_app(app)
    login_manager.init_app(app)
    socketio = make_socketio(app)

    from web import security

    security.init_app(app)  # after the Socket.IO server: ProxyFix must wrap it too

    from web import api, auth, db, errors, views, openapi

    db.init_app(app)
    auth.init_csrf(app)
    errors.init_app(app)
    i18n.init_app(app)
    app.register_blueprint(views.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(openapi.bp)

    from web import plugin_web

    plugin_web.init_app(app, pm)
    pm.hook.courtyard_register_socket_handlers(socketio=socketio)
    return app

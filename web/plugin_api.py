"""The public API for a plugin's web code: everything a plugin's pages, API routes,
socket handlers and notification hooks need from Courtyard, in one stable module.

A plugin imports ``core.plugins.hookimpl``, ``core.registry`` (the dataclasses it
registers), ``core.db.Base`` (for its own ``plugin_<name>_`` tables) and this module —
nothing else of ``web``. Names here follow the hook API version
(``core.hookspecs.HOOK_API_VERSION``): they are not renamed or removed without a
deprecation period of one release.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from flask import abort, current_app, g, render_template
from flask_babel import Domain
from sqlalchemy.orm import Session

from core.db import session_scope
from core.models import Community, Member
from core.services import plugins as plugin_settings
from core.services.access import community_by_slug, has_role
from web.auth import current_member as _current_member
from web.db import commit as _commit
from web.db import get_db as _get_db
from web.inputs import INT_MAX, find_text_fault
from web.schemas import load_args
from web.security import holds_secret

__all__ = [
    "INT_MAX",
    "commit",
    "community",
    "current_member",
    "enabled_in",
    "find_text_fault",
    "get_db",
    "has_role",
    "holds_secret",
    "load_args",
    "render",
    "require_member",
    "socketio",
    "translations",
    "unit_of_work",
]


def get_db() -> Session:
    """The request's database session (one unit of work per request)."""
    return _get_db()


def commit() -> None:
    """Commit the request's unit of work; queued notifications are sent after it."""
    _commit()


def current_member() -> Member | None:
    """The signed-in member, or ``None``."""
    return _current_member()


def require_member() -> Member:
    """The signed-in member; a 401/redirect-free 403 for anonymous visitors."""
    member = _current_member()
    if member is None:
        abort(403)
    return member


def community(slug: str | None = None) -> Community:
    """The community of the current ``/c/<slug>/…`` route (404 when unknown)."""
    found = g.get("community")
    if found is not None and (slug is None or found.slug == slug):
        return found
    if slug is None:
        abort(404)
    g.community = community_by_slug(get_db(), slug)
    return g.community


def enabled_in(community_id: int, plugin: str, db: Session | None = None) -> bool:
    """Whether ``plugin`` is enabled (and not blocked) in that community."""
    pm = current_app.extensions["courtyard"].pm
    return plugin_settings.enabled_checker(db or get_db(), community_id, pm)(plugin)


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """A database session of its own, committed at the end — for notification hooks,
    which run after the triggering change was committed (and maybe in a worker thread)."""
    with session_scope(current_app.extensions["courtyard"].sessionmaker) as db:
        yield db


def socketio() -> Any:
    """The application's ``flask_socketio.SocketIO`` (to emit from a hook)."""
    return current_app.extensions["courtyard"].socketio


def translations(domain: str) -> Domain:
    """The plugin's own gettext domain, as registered through
    ``courtyard_register_translations``: ``translations("courtyard_x").gettext("…")``."""
    domains = current_app.extensions["courtyard"].translation_domains
    found = domains.get(domain)
    if found is None:  # not registered: English message ids, never a crash
        found = domains[domain] = Domain(translation_directories=[], domain=domain)
    return found


def render(template: str, *, domain: str | None = None, **context: Any) -> str:
    """``render_template`` with ``_``/``gettext``/``ngettext`` bound to the plugin's
    translation domain, so ``{{ _("…") }}`` in the plugin's templates uses its catalogue.
    The page can extend Courtyard's ``base.html``."""
    if domain is not None:
        d = translations(domain)
        context.setdefault("_", d.gettext)
        context.setdefault("gettext", d.gettext)
        context.setdefault("ngettext", d.ngettext)
    return render_template(template, **context)


def compile_catalogues(directory: str | Path, domain: str) -> list[Path]:
    """Compile ``<locale>/LC_MESSAGES/<domain>.po`` to ``.mo`` where the ``.mo`` is missing
    or older. Returns the files written (none when the directory is read-only)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    written: list[Path] = []
    for po in sorted(Path(directory).glob(f"*/LC_MESSAGES/{domain}.po")):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        try:
            with po.open("rb") as fh:
                catalog = read_po(fh, locale=po.parent.parent.name, domain=domain)
            with mo.open("wb") as fh:
                write_mo(fh, catalog)
        except OSError:
            continue
        written.append(mo)
    return written


__all__ += ["compile_catalogues", "has_role"]

"""Courtyard's hook specifications.

Every hook is prefixed ``courtyard_`` and documented in ``docs/hooks.md`` (a test fails
when one is not). Hooks come in three shapes:

* ``courtyard_register_<things>(register)`` — contribute objects by calling
  ``register(obj)`` once per object (the callback pattern);
* ``courtyard_<noun>_<past verb>(...)`` — notifications after something happened and
  was committed; their return values are ignored and a plugin that raises is logged,
  counted and, after repeated failures, blocked for that community — it never undoes
  the action or takes the meeting down;
* ``firstresult`` hooks — the first non-``None`` answer wins; built-in answers are
  ``trylast`` so a community plugin can replace them.

Hook arguments are passed by keyword; an implementation may accept any subset of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Sequence

import pluggy

if TYPE_CHECKING:  # pragma: no cover
    from core.registry import Category, NavLink, SessionFormat, TallyMethod
    from core.scheduling import Assignment, Candidate, PastHosting, Slot

hookspec = pluggy.HookspecMarker("courtyard")

#: the version of the hook API described here; a plugin may check it.
HOOK_API_VERSION = 1


# -------------------------------------------------------------------------
# Contributions
# -------------------------------------------------------------------------


@hookspec
def courtyard_register_formats(register: Callable[["SessionFormat"], None]) -> None:
    """Contribute session formats.

    :param register: call ``register(SessionFormat(...))`` once per format.
    """


@hookspec
def courtyard_register_categories(register: Callable[["Category"], None]) -> None:
    """Contribute topic categories (议题分类) offered to every community that enables
    the plugin. Categories a community defines itself are stored in the database and
    need no plugin.

    :param register: call ``register(Category(...))`` once per category.
    """


@hookspec
def courtyard_register_tally_methods(register: Callable[["TallyMethod"], None]) -> None:
    """Contribute tally methods: a pure counting function and a ballot schema that
    refuses an invalid ballot before it is stored.

    :param register: call ``register(TallyMethod(...))`` once per method.
    """


@hookspec
def courtyard_register_blueprints(register: Callable[..., None]) -> None:
    """Contribute web pages and API routes.

    :param register: call ``register(blueprint, url_prefix=None)`` with a Flask
        blueprint; a community plugin's blueprint is named ``plugin_<name>``. Its routes
        answer 404 in communities where the plugin is disabled when they carry a
        ``slug`` URL argument (the community's address).
    """


@hookspec
def courtyard_register_socket_handlers(socketio: Any) -> None:
    """Contribute live (Socket.IO) event handlers.

    :param socketio: the application's ``flask_socketio.SocketIO``; register a
        namespace class with ``socketio.on_namespace(...)`` or handlers with
        ``socketio.on(event, namespace=...)``.
    """


@hookspec
def courtyard_register_nav_links(register: Callable[["NavLink"], None]) -> None:
    """Contribute links on a community's page to the plugin's own pages.

    :param register: call ``register(NavLink(key, names, endpoint, order))`` once per
        link; ``endpoint`` takes the community's ``slug``. A link shows only in
        communities where the plugin is enabled.
    """


@hookspec
def courtyard_register_commands(cli: Any) -> None:
    """Contribute ``courtyard`` sub-commands.

    :param cli: the ``courtyard`` click group; add commands with ``cli.add_command(...)``
        or ``@cli.command()``. Commands build their app with ``web.create_app()`` only
        when run.
    """


@hookspec
def courtyard_seed_demo(db: Any, catalog: Any, pm: Any, community: Any, now: Any) -> None:
    """Add the plugin's part of the demo to a demo community that was just created
    (``courtyard demo``), in the same transaction.

    :param db: the database session; flush, don't commit.
    :param catalog: the :class:`core.catalog.Catalog` of formats, categories, tally methods.
    :param pm: the plugin manager (for one-answer hooks such as host rotation).
    :param community: the new :class:`core.models.Community` (``renfu`` or ``tuxin``).
    :param now: the demo's notion of now (aware, UTC).
    """


# -------------------------------------------------------------------------
# One-answer hooks
# -------------------------------------------------------------------------


@hookspec(firstresult=True)
def courtyard_plan_host_rotation(
    slots: Sequence["Slot"],
    candidates: Sequence["Candidate"],
    history: Sequence["PastHosting"],
    fixed: Sequence["Assignment"],
) -> list["Assignment"] | None:
    """Propose a host for each slot of a courtyard-talk series.

    :param slots: the dates that need a host, in order.
    :param candidates: residents who applied, with capacity and available dates.
    :param history: who hosted when (past and confirmed sessions), oldest first.
    :param fixed: assignments that must stay as they are (confirmed hosts, staff
        overrides); re-plan only the rest.
    :returns: one :class:`~core.scheduling.Assignment` per slot, in slot order, or
        ``None`` to let the next implementation answer. The built-in policy rotates
        fairly (least recently and least often first, never twice in a row unless no
        one else can) and is ``trylast``.
    """


# -------------------------------------------------------------------------
# Lifecycle notifications (after commit; failures are isolated)
# -------------------------------------------------------------------------


@hookspec
def courtyard_session_status_changed(session: Any, old_status: str, new_status: str, actor: Any) -> None:
    """A consultation session moved through draft → scheduled → live → closed.

    :param session: the :class:`core.models.ConsultationSession`.
    :param old_status: the status before.
    :param new_status: the status now.
    :param actor: the :class:`core.models.Member` who changed it, or ``None`` for the
        system (a scheduled opening).
    """


@hookspec
def courtyard_notification_sent(notification: Any) -> None:
    """A notification was written to a member's in-app inbox; deliver it elsewhere too
    (SMS, a WeChat group, a loudspeaker announcement...).

    :param notification: the :class:`core.models.Notification` (recipient, kind,
        message id and parameters, link).
    """


# -------------------------------------------------------------------------
# Live sessions
# -------------------------------------------------------------------------


@hookspec
def courtyard_message_posted(session: Any, message: Any, participant: Any) -> None:
    """A message was posted in a live session's discussion (after commit).

    :param session: the :class:`core.models.ConsultationSession`.
    :param message: the :class:`core.models.LiveMessage` (body, reply_to_id, from_floor).
    :param participant: the :class:`core.models.Participant` who wrote it (a member or
        a guest).
    """


@hookspec
def courtyard_minutes_sections(session: Any, db: Any) -> list[dict[str, Any]] | None:
    """Contribute sections to a session's minutes (会议纪要), e.g. vote results.

    Called when the minutes are compiled (when the session closes, and for a preview).
    Every implementation's sections are collected, in plugin registration order, after
    the built-in sections (attendance, agenda, floor, announcements, discussion).

    :param session: the :class:`core.models.ConsultationSession`.
    :param db: the database session (read only: do not commit).
    :returns: a list of sections, each a JSON-able dict with ``key`` (unique, e.g.
        ``"votes"``), ``title`` (an English message id, translated when shown) and
        ``rows`` (a list of ``{"label": str, "value": str}``), or ``None``.
    """


# -------------------------------------------------------------------------
# Plugin infrastructure
# -------------------------------------------------------------------------


@hookspec
def courtyard_register_migrations(register: Callable[[str], None]) -> None:
    """Contribute a plugin's own Alembic migration chain.

    ``courtyard db upgrade`` runs Courtyard's chain first, then each plugin's chain on
    its own version table, ``alembic_version_plugin_<name>``. The plugin's tables are
    prefixed ``plugin_<name>_``. Its ``env.py`` is two lines:
    ``from web.plugin_migrations import run_env; run_env()``.

    :param register: call ``register(path)`` once with the path of the plugin's Alembic
        script directory (the folder holding ``env.py`` and ``versions/``).
    """


@hookspec
def courtyard_register_translations(register: Callable[..., None]) -> None:
    """Contribute a plugin's own translation domain (gettext catalogues).

    :param register: call ``register(directory, domain)``: ``directory`` holds
        ``<locale>/LC_MESSAGES/<domain>.po`` (and the compiled ``.mo``; a missing or
        stale ``.mo`` is compiled from the ``.po`` when the app starts). Translate with
        ``web.plugin_api.translations(domain)``.
    """


# Deprecated hooks (kept working for one release; see ``DEPRECATED_HOOKS`` in
# core.plugins). Implementing one warns with a DeprecationWarning when the plugin is
# registered, and the manager forwards its answer to the hook that replaced it.


@hookspec(
    warn_on_impl=DeprecationWarning(
        "courtyard_blueprints() is deprecated since hook API 1 and will be removed in hook "
        "API 2: implement courtyard_register_blueprints(register) instead"
    )
)
def courtyard_blueprints() -> list[Any] | None:
    """Deprecated (hook API 0): return a list of Flask blueprints.

    Forwarded to :func:`courtyard_register_blueprints`; implement that instead.

    :returns: a list of blueprints, or ``None``.
    """


# -------------------------------------------------------------------------
# Residents' issues
# -------------------------------------------------------------------------


@hookspec
def courtyard_issue_status_changed(issue: Any, old_status: str | None, new_status: str, actor: Any) -> None:
    """A resident's issue (民情 / 诉求) moved along its lifecycle: open → accepted /
    rejected / scheduled → assigned → replied → resolved → reopened / closed, or merged.

    :param issue: the :class:`core.models.Issue`.
    :param old_status: the status before, or ``None`` when the issue was just raised.
    :param new_status: the status now.
    :param actor: the :class:`core.models.Member` who changed it, or ``None`` for the
        system (a low rating reopening it).
    """


@hookspec
def courtyard_issue_escalated(issue: Any, from_place: Any, to_place: Any) -> None:
    """An overdue issue was escalated one level up the place hierarchy (grid →
    community → street); called once per level.

    :param issue: the :class:`core.models.Issue` (``escalation_level`` already raised).
    :param from_place: the :class:`core.models.Place` that answered for it until now.
    :param to_place: the :class:`core.models.Place` that answers for it now.
    """


# -------------------------------------------------------------------------
# Voting
# -------------------------------------------------------------------------


@hookspec
def courtyard_motion_closed(motion: Any, result: dict[str, Any]) -> None:
    """A motion (表决事项) was closed and its result stored (after commit). Announce it
    elsewhere (a WeChat group, a notice board printout...).

    :param motion: the :class:`core.models.Motion` (``status`` is ``"closed"``).
    :param result: the stored tally, a JSON-able dict: the method's result (``winners`` —
        every tied winner —, ``winner``, ``tie_break`` and the method's figures such as
        ``counts`` or ``rounds``) plus ``turnout`` (``ballots``, ``eligible``, ``quorum``,
        ``quorum_met``, ``percent``) and ``decided``. For a secret ballot it names no voter.
    """

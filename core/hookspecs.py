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
    from core.registry import Category, SessionFormat, TallyMethod
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
        ``community`` URL argument.
    """


@hookspec
def courtyard_register_socket_handlers(socketio: Any) -> None:
    """Contribute live (Socket.IO) event handlers.

    :param socketio: the application's ``flask_socketio.SocketIO``; register a
        namespace class with ``socketio.on_namespace(...)`` or handlers with
        ``socketio.on(event, namespace=...)``.
    """


@hookspec
def courtyard_register_commands(cli: Any) -> None:
    """Contribute ``courtyard`` sub-commands.

    :param cli: the ``courtyard`` click group; add commands with ``cli.add_command(...)``
        or ``@cli.command()``. Commands build their app with ``web.create_app()`` only
        when run.
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

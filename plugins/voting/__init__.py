"""Voting (表决): motions put to the vote during a session or for a period, ballots cast on
phones (or recorded by the host for a resident without one), receipts, the ballot log's
hash chain, results counted by a tally method a plugin provides, and their publication.

The domain is :mod:`core.services.votes` (tables in :mod:`core.models.vote`); this plugin
contributes the pages and JSON API (:mod:`plugins.voting.views`), the ``/vote`` Socket.IO
namespace (:mod:`plugins.voting.live`), ``courtyard verify MOTION``, the vote results in a
session's minutes, and its part of the demo. See ``docs/voting.md``.
"""

from __future__ import annotations

from typing import Any

from core.plugins import hookimpl


@hookimpl
def courtyard_register_blueprints(register: Any) -> None:
    from plugins.voting.views import bp

    register(bp)


@hookimpl
def courtyard_register_socket_handlers(socketio: Any) -> None:
    from plugins.voting.live import NAMESPACE, VoteNamespace

    socketio.on_namespace(VoteNamespace(NAMESPACE))


@hookimpl
def courtyard_register_commands(cli: Any) -> None:
    from plugins.voting.cli import verify

    if "verify" not in getattr(cli, "commands", {}):
        cli.add_command(verify)


@hookimpl
def courtyard_register_nav_links(register: Any) -> None:
    from core.registry import NavLink

    register(NavLink("motions", {"zh_CN": "表决", "en": "Votes"}, "plugin_voting.index", order=30))
    register(NavLink("session_motions", {"zh_CN": "本场表决", "en": "Votes in this session"}, "plugin_voting.index",
                     order=30, scope="session"))


@hookimpl
def courtyard_minutes_sections(session: Any, db: Any) -> list[dict[str, Any]] | None:
    """The results of the session's closed motions, for the minutes (会议纪要)."""
    from plugins.voting.minutes import sections

    return sections(session, db)


@hookimpl
def courtyard_seed_demo(db: Any, catalog: Any, community: Any, now: Any) -> None:
    """renfu: an open yes/no motion in the live tea talk and a closed, published one;
    tuxin: the representative assembly's instant-runoff vote over three projects."""
    from plugins.voting.demo import seed_votes

    seed_votes(db, catalog, community, now)

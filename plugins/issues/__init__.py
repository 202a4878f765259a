"""Residents' issues and the golden microphone forum (民声金话筒): raise, triage, assign to
a department, reply, resolve, rate; escalation of overdue issues; dashboards.

The domain lives in :mod:`core.services.issues`; this plugin contributes the pages, the
JSON API and the ``courtyard issues escalate`` command.
"""

from __future__ import annotations

from typing import Any

from core.plugins import hookimpl


@hookimpl
def courtyard_register_blueprints(register: Any) -> None:
    from plugins.issues.views import bp

    register(bp)


@hookimpl
def courtyard_register_commands(cli: Any) -> None:
    from plugins.issues.cli import issues

    if "issues" not in getattr(cli, "commands", {}):
        cli.add_command(issues)


@hookimpl
def courtyard_register_nav_links(register: Any) -> None:
    from core.registry import NavLink

    register(NavLink("issues", {"zh_CN": "民情诉求", "en": "Residents' issues"}, "plugin_issues.index", order=20))
    register(NavLink("issues_dashboard", {"zh_CN": "办理情况", "en": "How issues are handled"},
                     "plugin_issues.dashboard", order=40))


@hookimpl
def courtyard_seed_demo(db: Any, catalog: Any, community: Any, now: Any) -> None:
    """涂新社区's issues: the collapsed water main, the building 9 rain pipe, the parking."""
    if community.slug == "tuxin":
        from plugins.issues.demo import seed_issues

        seed_issues(db, catalog, community.slug, now=now)

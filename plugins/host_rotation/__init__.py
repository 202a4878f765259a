"""Host rotation (院长轮值): the built-in ``courtyard_plan_host_rotation`` policy.

Residents apply in turn to host the Haitang courtyard tea talk at home; this plugin
proposes who hosts which date, fairly. The policy itself is the pure module
:mod:`plugins.host_rotation.scheduler`; this package only adapts it to the hook, so
web blueprints (applications to host, the month's rota) can live beside it later.
Importing it has no side effects; ``core.plugins`` registers it by dotted name.

The hookimpl is ``trylast``: a community plugin (a lottery, by building...) that
answers ``courtyard_plan_host_rotation`` replaces it.
"""

from __future__ import annotations

from typing import Sequence

from core.plugins import hookimpl
from core.scheduling import Assignment, Candidate, PastHosting, Slot
from plugins.host_rotation.scheduler import plan_rotation, replan_after_decline, swap

__all__ = ["courtyard_plan_host_rotation", "courtyard_register_blueprints", "courtyard_register_commands", "plan_rotation",
           "replan_after_decline", "swap"]


@hookimpl(trylast=True)
def courtyard_plan_host_rotation(
    slots: Sequence[Slot],
    candidates: Sequence[Candidate],
    history: Sequence[PastHosting],
    fixed: Sequence[Assignment],
) -> list[Assignment]:
    """Built-in fallback: fair rotation (see :mod:`plugins.host_rotation.scheduler`)."""
    return plan_rotation(slots, candidates, history, fixed)


@hookimpl
def courtyard_register_blueprints(register) -> None:
    """Pages under ``/c/<slug>/courtyard/``, calendar feeds, and the rota API."""
    from plugins.host_rotation.web import bp

    register(bp)


@hookimpl
def courtyard_register_commands(cli) -> None:
    """``courtyard rotation remind``: send the reminders that are due (idempotent)."""
    from plugins.host_rotation.cli import rotation

    cli.add_command(rotation)


@hookimpl
def courtyard_register_nav_links(register) -> None:
    from core.registry import NavLink

    register(NavLink("courtyard_rota", {"zh_CN": "海棠小院排班", "en": "Courtyard talk rota"},
                     "plugin_host_rotation.index", order=10))


@hookimpl
def courtyard_seed_demo(db, catalog, pm, community, now) -> None:
    """人福村's coming month: 8 海棠小院 talks in residents' homes, planned through the policy hook."""
    if community.slug == "renfu":
        from plugins.host_rotation.demo import seed_rotation

        seed_rotation(db, catalog, pm, community.slug, now=now)

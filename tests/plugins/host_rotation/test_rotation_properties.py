"""Property tests (hypothesis) of the host-rotation policy on small random instances,
checked against a brute-force search over every possible assignment."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import Invalid
from core.scheduling import Assignment, Candidate, PastHosting, Slot
from plugins.host_rotation.scheduler import plan_rotation, replan_after_decline, swap

BASE = datetime(2024, 3, 2)
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def slots_st(draw, max_size=5):
    """Slots over two days, starting 14:00–16:30, so that overlaps (parallel sessions
    and chains) are common."""
    n = draw(st.integers(0, max_size))
    out = []
    for _ in range(n):
        start = BASE + timedelta(
            days=draw(st.integers(0, 1)), hours=draw(st.integers(14, 16)), minutes=draw(st.sampled_from([0, 30]))
        )
        out.append(Slot(start, start + timedelta(minutes=draw(st.sampled_from([60, 90, 120, 180]))), draw(st.integers(1, 3))))
    return out


@st.composite
def candidates_st(draw, max_size=4):
    ids = draw(st.lists(st.integers(1, 6), unique=True, max_size=max_size))
    days = [(BASE + timedelta(days=d)).date() for d in range(2)]
    return [
        Candidate(m, draw(st.integers(1, 3)), frozenset(draw(st.lists(st.sampled_from(days), max_size=3))))
        for m in ids
    ]


history_st = st.lists(
    st.builds(lambda m, d: PastHosting(m, BASE - timedelta(days=d)), st.integers(1, 6), st.integers(1, 60)),
    max_size=4,
)


@st.composite
def instance_st(draw):
    slots = draw(slots_st())
    cands = draw(candidates_st())
    history = draw(history_st)
    fixed_idx = draw(st.sets(st.integers(0, max(len(slots) - 1, 0)), max_size=2)) if slots else set()
    fixed = [Assignment(slots[i], draw(st.one_of(st.none(), st.integers(1, 6)))) for i in sorted(fixed_idx)]
    return slots, cands, history, fixed


def holdings(plan: list[Assignment], member: int) -> list[int]:
    return [i for i, a in enumerate(plan) if a.member_id == member]


def max_fill(slots, cands, keep: dict[int, int | None], forbidden=frozenset()) -> int:
    """Brute force: the most open slots that can be filled, given the kept ones."""
    open_ = [i for i in range(len(slots)) if i not in keep]
    host: dict[int, int | None] = dict(keep)
    best = [0]

    def free(m, i):
        return not any(host.get(j) == m and slots[j].overlaps(slots[i]) for j in host if j != i)

    def go(p, filled):
        if filled + len(open_) - p <= best[0]:
            return
        if p == len(open_):
            best[0] = filled
            return
        i = open_[p]
        for c in cands:
            if c.can_host(slots[i]) and (i, c.member_id) not in forbidden and free(c.member_id, i):
                host[i] = c.member_id
                go(p + 1, filled + 1)
                del host[i]
        go(p + 1, filled)

    go(0, 0)
    return best[0]


def assert_valid(plan, slots, cands, keep, forbidden=frozenset()):
    by_id = {c.member_id: c for c in cands}
    assert [a.slot for a in plan] == slots
    for i, a in enumerate(plan):
        if i in keep:
            assert a.member_id == keep[i]
            continue
        if a.member_id is None:
            continue
        assert by_id[a.member_id].can_host(a.slot)
        assert (i, a.member_id) not in forbidden
        for j in holdings(plan, a.member_id):
            assert j == i or not slots[j].overlaps(slots[i]), "double-booked host"


@SETTINGS
@given(instance_st())
def test_plan_respects_hard_rules_and_fills_as_many_slots_as_possible(instance):
    slots, cands, history, fixed = instance
    plan = plan_rotation(slots, cands, history, fixed)
    keep: dict[int, int | None] = {}  # drawn slots may repeat: fixed ones match in order
    for a in fixed:
        keep[next(i for i, s in enumerate(slots) if s == a.slot and i not in keep)] = a.member_id
    assert_valid(plan, slots, cands, keep)
    filled = sum(1 for i, a in enumerate(plan) if i not in keep and a.member_id is not None)
    assert filled == max_fill(slots, cands, keep)  # in particular: a perfect plan is found when one exists


@SETTINGS
@given(slots_st(), candidates_st(), history_st)
def test_every_slot_filled_when_a_perfect_assignment_exists(slots, cands, history):
    plan = plan_rotation(slots, cands, history)
    if max_fill(slots, cands, {}) == len(slots):
        assert None not in [a.member_id for a in plan]


@st.composite
def weekly_st(draw):
    """Up to eight Saturday afternoons (no overlaps) and up to four applicants free on
    some of them, with a past."""
    slots = [Slot(BASE + timedelta(weeks=w, hours=14), BASE + timedelta(weeks=w, hours=16), 1)
             for w in range(draw(st.integers(1, 8)))]
    days = [s.day for s in slots]
    cands = [Candidate(m, 1, frozenset(draw(st.lists(st.sampled_from(days), max_size=len(days)))))
             for m in draw(st.lists(st.integers(1, 6), unique=True, max_size=4))]
    return slots, cands, draw(history_st)


@SETTINGS
@given(weekly_st())
def test_nobody_hosts_twice_in_a_row_unless_sole_fit(instance):
    slots, cands, history = instance
    plan = plan_rotation(slots, cands, history)
    last_start = max((h.start for h in history), default=None)
    for i, a in enumerate(plan):
        before = {h.member_id for h in history if h.start == last_start} if i == 0 else {plan[i - 1].member_id}
        fitting = {c.member_id for c in cands if c.can_host(a.slot)}
        assert (a.member_id is None) == (not fitting)
        if a.member_id in before:
            assert fitting <= before, f"{a.member_id} hosted twice in a row though {fitting} fit"


@SETTINGS
@given(instance_st(), st.data())
def test_decline_keeps_confirmed_and_changes_only_what_it_must(instance, data):
    slots, cands, history, _ = instance
    previous = plan_rotation(slots, cands, history)
    filled = [i for i, a in enumerate(previous) if a.member_id is not None and slots.count(a.slot) == 1]
    if not filled:
        return
    k = data.draw(st.sampled_from(filled))
    decliner = previous[k].member_id
    confirmed = {slots[i].start for i in data.draw(st.sets(st.sampled_from(range(len(slots)))))} - {slots[k].start}
    new = replan_after_decline(previous, slots[k], decliner, cands, history, confirmed)
    forbidden = frozenset((j, decliner) for j, s in enumerate(slots) if s.day == slots[k].day)
    changed = {i for i in range(len(slots)) if i != k and new[i] != previous[i]}
    unchanged = {i: previous[i].member_id for i in range(len(slots)) if i != k and i not in changed}
    assert_valid(new, slots, cands, unchanged, forbidden)
    assert new[k].member_id != decliner
    assert not any(slots[i].start in confirmed for i in changed), "a confirmed host was moved"
    others = {i: a.member_id for i, a in enumerate(previous) if i != k}
    if max_fill(slots, cands, others, forbidden) == 1:
        # a replacement exists for the declined slot alone: nothing else moves
        assert not changed and new[k].member_id is not None
    elif changed:
        # a wider re-plan only to fill the declined slot, never emptying another one,
        # and only among slots overlapping it (directly or through a chain)
        assert new[k].member_id is not None
        assert all(new[i].member_id is not None for i in changed if previous[i].member_id is not None)
        assert all(component(slots, i) == component(slots, k) for i in changed)
    else:
        assert new[k].member_id is None


def component(slots, i):
    """The slots chained to slot ``i`` by overlaps (a fixed point, by brute force)."""
    group = {i}
    while True:
        grown = {j for j in range(len(slots)) for g in group if slots[j].overlaps(slots[g])} | group
        if grown == group:
            return frozenset(group)
        group = grown


@SETTINGS
@given(instance_st(), st.data())
def test_swap_either_refuses_or_gives_a_valid_plan(instance, data):
    slots, cands, history, _ = instance
    if len(set(slots)) < 2:
        return
    previous = plan_rotation(slots, cands, history)
    a, b = data.draw(st.lists(st.sampled_from(sorted(set(slots), key=lambda s: (s.start, s.end, s.min_capacity))), min_size=2, max_size=2, unique=True))
    try:
        new = swap(previous, a, b, cands)
    except Invalid as err:
        assert err.field in {"available", "capacity", "member_id"}
        return
    ia, ib = slots.index(a), slots.index(b)
    assert new[ia].member_id == previous[ib].member_id and new[ib].member_id == previous[ia].member_id
    assert_valid(new, slots, cands, {})

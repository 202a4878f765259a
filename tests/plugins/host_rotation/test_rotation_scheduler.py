"""Unit tests of the built-in host-rotation policy (pure functions, no Flask, no DB)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from core.errors import Invalid
from core.scheduling import Assignment, Candidate, PastHosting, Slot
from plugins.host_rotation.scheduler import plan_rotation, replan_after_decline, swap

SAT = datetime(2024, 3, 2, 14, 0)  # a Saturday afternoon


def make_slot(week: int = 0, *, hour: int = 14, minutes: int = 0, hours: float = 2, seats: int = 1) -> Slot:
    start = SAT + timedelta(weeks=week, hours=hour - 14, minutes=minutes)
    return Slot(start, start + timedelta(hours=hours), seats)


def make_candidate(member_id: int, slots=(), *, capacity: int = 30, days=()) -> Candidate:
    available = frozenset(s.day for s in slots) | frozenset(days)
    return Candidate(member_id, capacity, available)


def hosts(plan: list[Assignment]) -> list[int | None]:
    return [a.member_id for a in plan]


def hosted(member_id: int, week: int) -> PastHosting:
    return PastHosting(member_id, SAT + timedelta(weeks=week))


# --- basic rules --------------------------------------------------------------


def test_availability_is_respected():
    s1, s2 = make_slot(0), make_slot(1)
    plan = plan_rotation([s1, s2], [make_candidate(1, [s2]), make_candidate(2, [s1])], [])
    assert hosts(plan) == [2, 1]
    assert [a.slot for a in plan] == [s1, s2]


def test_capacity_is_respected():
    big, huge = make_slot(0, seats=20), make_slot(1, seats=40)
    small = make_candidate(1, [big, huge], capacity=10)
    roomy = make_candidate(2, [big, huge], capacity=25)
    plan = plan_rotation([big, huge], [small, roomy], [])
    assert hosts(plan) == [2, None]  # nobody seats 40; the small yard never gets 20


def test_nobody_fits_gives_none_and_empty_candidates_give_all_none():
    slots = [make_slot(w) for w in range(3)]
    assert hosts(plan_rotation(slots, [], [])) == [None, None, None]
    assert hosts(plan_rotation(slots, [make_candidate(1, days=[date(2000, 1, 1)])], [])) == [None] * 3
    assert plan_rotation([], [make_candidate(1, slots)], []) == []


def test_least_often_goes_first():
    slot = make_slot(10)
    cands = [make_candidate(m, [slot]) for m in (1, 2, 3)]
    history = [hosted(1, 0), hosted(1, 1), hosted(2, 2), hosted(3, 3), hosted(3, 4)]
    assert hosts(plan_rotation([slot], cands, history)) == [2]


def test_then_least_recently_and_never_hosted_first():
    slot = make_slot(10)
    cands = [make_candidate(m, [slot]) for m in (1, 2, 3)]
    # equal counts: 2 hosted longest ago
    assert hosts(plan_rotation([slot], cands, [hosted(1, 3), hosted(2, 1), hosted(3, 5)])) == [2]
    # a newcomer (never hosted, count 0) beats everyone
    newcomer = make_candidate(9, [slot])
    assert hosts(plan_rotation([slot], cands + [newcomer], [hosted(1, 3), hosted(2, 1), hosted(3, 5)])) == [9]


def test_deterministic_tie_break_and_rotation_order():
    slots = [make_slot(w) for w in range(7)]
    cands = [make_candidate(m, slots) for m in (30, 10, 20)]  # order of the input does not matter
    assert hosts(plan_rotation(slots, cands, [])) == [10, 20, 30, 10, 20, 30, 10]


def test_slots_out_of_order_are_planned_in_time_order_and_returned_in_input_order():
    slots = [make_slot(2), make_slot(0), make_slot(1)]
    cands = [make_candidate(m, slots) for m in (1, 2, 3)]
    plan = plan_rotation(slots, cands, [])
    assert [a.slot for a in plan] == slots
    assert hosts(plan) == [3, 1, 2]


# --- no twice in a row ----------------------------------------------------------------


def test_last_history_host_does_not_host_the_next_session():
    slot = make_slot(5)
    cands = [make_candidate(1, [slot]), make_candidate(2, [slot])]
    # by counts 1 should go (1 time vs 2), but 1 hosted the session just before
    history = [hosted(2, 0), hosted(2, 1), hosted(1, 4)]
    assert hosts(plan_rotation([slot], cands, history)) == [2]


def test_no_twice_in_a_row_within_the_plan_even_against_counts():
    slots = [make_slot(0), make_slot(1)]
    cands = [make_candidate(1, slots), make_candidate(2, slots)]
    history = [hosted(2, -10 - w) for w in range(5)]  # 2 hosted five times, long ago
    assert hosts(plan_rotation(slots, cands, history)) == [1, 2]


def test_twice_in_a_row_when_sole_candidate():
    slots = [make_slot(0), make_slot(1)]
    assert hosts(plan_rotation(slots, [make_candidate(7, slots)], [hosted(7, -1)])) == [7, 7]


def test_host_of_a_fixed_next_session_is_passed_over():
    s1, s2 = make_slot(0), make_slot(1)
    cands = [make_candidate(1, [s1, s2]), make_candidate(2, [s1, s2])]
    history = [hosted(2, -5), hosted(2, -6), hosted(3, -1)]  # 3 hosted last; not applying now
    plan = plan_rotation([s1, s2], cands, history, fixed=[Assignment(s2, 1)])
    assert hosts(plan) == [2, 1]


# --- overlapping slots ------------------------------------------------------------------


def test_no_double_booking_of_overlapping_slots():
    a = make_slot(0)
    b = make_slot(0, minutes=30)  # another series, same afternoon
    plan = plan_rotation([a, b], [make_candidate(1, [a, b])], [])
    assert hosts(plan).count(1) == 1 and None in hosts(plan)


def test_touching_slots_do_not_overlap():
    a = make_slot(0, hour=14, hours=2)
    b = make_slot(0, hour=16, hours=2)
    assert hosts(plan_rotation([a, b], [make_candidate(1, [a, b])], [])) == [1, 1]


def test_fills_every_slot_where_greedy_would_not():
    a = make_slot(0, seats=1)
    b = make_slot(0, seats=25)  # a parallel session of another series, same time
    flexible = make_candidate(1, [a], capacity=30)  # preferred (never hosted), fits both
    narrow = make_candidate(2, [a], capacity=10)  # fits only a
    plan = plan_rotation([a, b], [flexible, narrow], [hosted(2, -3)])
    # greedy by fairness would give a to 1 and leave b empty
    assert hosts(plan) == [2, 1]


def test_chain_of_overlaps_uses_one_host_twice_when_needed():
    s1 = make_slot(0, hour=14, hours=2)  # 14:00-16:00
    s2 = make_slot(0, hour=15, hours=2)  # 15:00-17:00
    s3 = Slot(s1.start + timedelta(hours=2, minutes=30), s1.start + timedelta(hours=4), 20)  # 16:30-18:00
    one = Candidate(1, 30, frozenset({s1.day}))  # fits all three
    two = Candidate(2, 10, frozenset({s1.day}))  # too small for s3
    plan = plan_rotation([s1, s2, s3], [one, two], [])
    assert None not in hosts(plan)
    assert hosts(plan)[2] == 1 and hosts(plan)[1] == 2 and hosts(plan)[0] == 1


# --- fixed -------------------------------------------------------------------------------


def test_fixed_assignments_are_kept_exactly_and_count_for_fairness():
    slots = [make_slot(w) for w in range(4)]
    cands = [make_candidate(m, slots) for m in (1, 2, 3)]
    override = Assignment(slots[1], 99)  # staff override: not even an applicant
    cancelled = Assignment(slots[2], None)  # nobody: the session is off
    plan = plan_rotation(slots, cands, [], fixed=[override, cancelled])
    assert plan[1] == override and plan[2] == cancelled
    assert hosts(plan) == [1, 99, None, 2]

    fixed_1 = Assignment(slots[3], 1)
    plan = plan_rotation(slots, cands, [], fixed=[fixed_1])
    # 1 already hosts once (fixed), so 2 and 3 go first and 2 takes the leftover slot
    assert hosts(plan) == [2, 3, 2, 1]


def test_fixed_duplicated_in_history_counts_once():
    s1, s2 = make_slot(0), make_slot(1)
    cands = [make_candidate(1, [s1, s2]), make_candidate(2, [s1, s2])]
    history = [hosted(2, -3), PastHosting(1, s1.start)]
    plan = plan_rotation([s2, s1], cands, history, fixed=[Assignment(s1, 1)])
    # 1 and 2 both hosted once; 2 hosted longer ago, and 1 hosted just before anyway
    assert hosts(plan) == [2, 1]


def test_fixed_for_unknown_slot_or_conflicting_fixed_is_invalid():
    s1, s2 = make_slot(0), make_slot(1)
    with pytest.raises(Invalid) as err:
        plan_rotation([s1], [], [], fixed=[Assignment(s2, 1)])
    assert err.value.field == "fixed"
    with pytest.raises(Invalid) as err:
        plan_rotation([s1], [], [], fixed=[Assignment(s1, 1), Assignment(s1, 2)])
    assert err.value.field == "fixed"


# --- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize("capacity", [0, -3])
def test_capacity_must_be_positive(capacity):
    slot = make_slot(0)
    with pytest.raises(Invalid) as err:
        plan_rotation([slot], [make_candidate(1, [slot]), Candidate(4, capacity, frozenset({slot.day}))], [])
    assert err.value.field == "capacity"
    assert err.value.params["member_id"] == 4


def test_other_bad_input_is_invalid():
    slot = make_slot(0)
    with pytest.raises(Invalid) as err:
        plan_rotation([slot], [make_candidate(1, [slot]), make_candidate(1, [slot])], [])
    assert err.value.field == "candidates"
    with pytest.raises(Invalid) as err:
        plan_rotation([Slot(slot.end, slot.start)], [], [])
    assert err.value.field == "end"


# --- decline ------------------------------------------------------------------------------------


def test_decline_replans_only_the_declined_slot():
    slots = [make_slot(w) for w in range(6)]
    cands = [make_candidate(m, slots) for m in (1, 2, 3, 4)]
    previous = plan_rotation(slots, cands, [])
    declined = previous[2]
    new = replan_after_decline(previous, declined.slot, declined.member_id, cands, [], confirmed=set())
    changed = [i for i, (a, b) in enumerate(zip(previous, new)) if a != b]
    assert changed == [2]
    assert new[2].member_id not in (None, declined.member_id)
    assert new[2].member_id not in (new[1].member_id, new[3].member_id)  # still no twice in a row


def test_decline_frees_an_unconfirmed_overlapping_slot_only_when_needed():
    p = make_slot(0, seats=25)
    q = Slot(p.start, p.end, 20)  # a parallel session of another series
    one = Candidate(1, 30, frozenset({p.day}))
    two = Candidate(2, 30, frozenset({p.day}))
    three = Candidate(3, 20, frozenset({p.day}))  # seats 20: q, not p
    later = make_slot(1)
    previous = [Assignment(p, 1), Assignment(q, 2), Assignment(later, 3)]
    cands = [one, two, three, Candidate(4, 30, frozenset({later.day}))]
    # only 2 could replace 1 on p, and 2 is at q; 3 can take q
    new = replan_after_decline(previous, p, 1, cands, [], confirmed=set())
    assert hosts(new) == [2, 3, 3]
    # if q is confirmed it stays, and p stays empty
    new = replan_after_decline(previous, p, 1, cands, [], confirmed={q.start})
    assert hosts(new) == [None, 2, 3]


def test_decline_validation():
    s1, s2 = make_slot(0), make_slot(1)
    previous = [Assignment(s1, 1)]
    with pytest.raises(Invalid) as err:
        replan_after_decline(previous, s1, 2, [], [], set())
    assert err.value.field == "member_id"
    with pytest.raises(Invalid) as err:
        replan_after_decline(previous, s2, 1, [], [], set())
    assert err.value.field == "slot"


# --- swap -------------------------------------------------------------------------------------------


def test_swap_exchanges_hosts_when_both_fit():
    s1, s2, s3 = make_slot(0), make_slot(1), make_slot(2)
    cands = [make_candidate(1, [s1, s2]), make_candidate(2, [s1, s2]), make_candidate(3, [s3])]
    previous = [Assignment(s1, 1), Assignment(s2, 2), Assignment(s3, 3)]
    assert hosts(swap(previous, s1, s2, cands)) == [2, 1, 3]
    assert hosts(previous) == [1, 2, 3]  # not mutated


def test_swap_refuses_a_host_who_does_not_fit():
    s1, s2 = make_slot(0), Slot(make_slot(1).start, make_slot(1).end, 20)
    previous = [Assignment(s1, 1), Assignment(s2, 2)]
    unavailable = [make_candidate(1, [s1]), make_candidate(2, [s1, s2])]
    with pytest.raises(Invalid) as err:
        swap(previous, s1, s2, unavailable)
    assert err.value.field == "available" and err.value.params["member_id"] == 1
    too_small = [make_candidate(1, [s1, s2], capacity=10), make_candidate(2, [s1, s2])]
    with pytest.raises(Invalid) as err:
        swap(previous, s1, s2, too_small)
    assert err.value.field == "capacity"
    with pytest.raises(Invalid) as err:
        swap(previous, s1, s2, [make_candidate(2, [s1, s2])])
    assert err.value.field == "member_id"


def test_swap_refuses_double_booking():
    a = make_slot(0)
    b = make_slot(0, minutes=30)
    c = make_slot(1)
    cands = [make_candidate(m, [a, b, c]) for m in (1, 2)]
    previous = [Assignment(a, 1), Assignment(b, 2), Assignment(c, 2)]
    with pytest.raises(Invalid) as err:
        swap(previous, a, c, cands)  # 2 would hold a and b at the same time
    assert err.value.field == "member_id"
    assert hosts(swap(previous, a, b, cands)) == [2, 1, 2]

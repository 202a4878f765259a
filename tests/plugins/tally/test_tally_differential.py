"""Differential tests: our winner sets against pref_voting's on thousands of random
profiles (fixed seed), including profiles built to be tied."""

from __future__ import annotations

import random

import pytest

pref_voting = pytest.importorskip("pref_voting")

from pref_voting.iterative_methods import instant_runoff, instant_runoff_put  # noqa: E402
from pref_voting.margin_based_methods import beat_path  # noqa: E402
from pref_voting.profiles import Profile  # noqa: E402
from pref_voting.profiles_with_ties import ProfileWithTies  # noqa: E402
from pref_voting.scoring_methods import borda, plurality  # noqa: E402

from plugins.tally.methods import tally_borda, tally_irv, tally_plurality, tally_schulze  # noqa: E402

SEED = 20240611
N_PROFILES = 4000


def random_profile(rng: random.Random) -> tuple[int, list[list[int]], list[int]]:
    """(candidates, distinct complete orders, counts). One profile in three is
    engineered towards ties: a few orders with equal counts, or a Latin square of
    cyclic orders (every method ties)."""
    m = rng.randint(3, 6)
    kind = rng.random()
    if kind < 0.15:
        base = list(range(m))
        rng.shuffle(base)
        orders = [base[i:] + base[:i] for i in range(m)]
        k = rng.randint(1, max(1, 60 // m))
        return m, orders, [k] * m
    if kind < 0.35:
        distinct = rng.randint(2, 4)
        orders = []
        for _ in range(distinct):
            o = list(range(m))
            rng.shuffle(o)
            orders.append(o)
        k = rng.randint(1, 60 // distinct)
        return m, orders, [k] * distinct
    voters = rng.randint(5, 60)
    tally: dict[tuple[int, ...], int] = {}
    popular = [tuple(rng.sample(range(m), m)) for _ in range(2)]
    for _ in range(voters):
        if rng.random() < 0.3:
            o = rng.choice(popular)
        else:
            o = tuple(rng.sample(range(m), m))
        tally[o] = tally.get(o, 0) + 1
    return m, [list(o) for o in tally], list(tally.values())


def profiles():
    rng = random.Random(SEED)
    return [random_profile(rng) for _ in range(N_PROFILES)]


PROFILES = profiles()


def ours(tally, m, orders, counts):
    names = [f"c{i}" for i in range(m)]
    ballots = [[names[i] for i in o] for o in orders]
    result = tally(names, ballots, counts, {})
    return result, sorted(int(w[1:]) for w in result["winners"])


def theirs(method, m, orders, counts):
    return sorted(int(c) for c in method(Profile(orders, rcounts=counts)))


def test_profiles_include_ties():
    """The generator really produces tied profiles (otherwise the tests below prove
    less than they claim)."""
    tied = sum(1 for m, o, c in PROFILES if len(theirs(borda, m, o, c)) > 1)
    assert tied > N_PROFILES // 10


def test_plurality_matches_pref_voting():
    for m, orders, counts in PROFILES:
        names = [f"c{i}" for i in range(m)]
        result = tally_plurality(names, [names[o[0]] for o in orders], counts, {})
        got = sorted(int(w[1:]) for w in result["winners"])
        assert got == theirs(plurality, m, orders, counts), (orders, counts)


def test_borda_matches_pref_voting_on_complete_orders():
    for m, orders, counts in PROFILES:
        _, got = ours(tally_borda, m, orders, counts)
        assert got == theirs(borda, m, orders, counts), (orders, counts)


def test_schulze_matches_beat_path():
    for m, orders, counts in PROFILES:
        _, got = ours(tally_schulze, m, orders, counts)
        assert got == theirs(beat_path, m, orders, counts), (orders, counts)


def test_irv_matches_instant_runoff_when_no_elimination_tie():
    compared = 0
    for m, orders, counts in PROFILES:
        result, got = ours(tally_irv, m, orders, counts)
        if any(r["tie_break"] for r in result["rounds"]):
            continue
        compared += 1
        assert got == theirs(instant_runoff, m, orders, counts), (orders, counts)
        assert got == [int(result["winner"][1:])]
    assert compared > N_PROFILES // 3


def test_irv_winners_match_parallel_universe_tie_breaking():
    """``winners`` is every option that wins under some elimination tie-break: the
    same set as pref_voting's instant_runoff_put, tied profiles included."""
    for m, orders, counts in PROFILES:
        result, got = ours(tally_irv, m, orders, counts)
        assert got == theirs(instant_runoff_put, m, orders, counts), (orders, counts)
        assert result["winner"] in result["winners"]


def test_schulze_matches_beat_path_on_truncated_ballots():
    """With truncated ballots: ranked options above unranked ones, unranked not
    compared — pref_voting's ProfileWithTies with extended strict preference."""
    rng = random.Random(SEED + 1)
    for _ in range(1000):
        m = rng.randint(3, 5)
        tally: dict[tuple[int, ...], int] = {}
        for _ in range(rng.randint(5, 40)):
            o = tuple(rng.sample(range(m), rng.randint(1, m)))
            tally[o] = tally.get(o, 0) + 1
        orders, counts = [list(o) for o in tally], list(tally.values())
        prof = ProfileWithTies([{c: r for r, c in enumerate(o)} for o in orders],
                               rcounts=counts, candidates=list(range(m)))
        prof.use_extended_strict_preference()
        _, got = ours(tally_schulze, m, orders, counts)
        assert got == sorted(int(c) for c in beat_path(prof)), (orders, counts)

"""Property-based tests (hypothesis) of the built-in tally methods."""

from __future__ import annotations

import json
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from plugins.tally.methods import (
    tally_approval,
    tally_borda,
    tally_irv,
    tally_majority,
    tally_plurality,
    tally_satisfaction,
    tally_schulze,
    tally_score,
)

NAMES = ["A", "B", "C", "D", "E"]


@st.composite
def ranked_profiles(draw, complete=False, min_ballots=0):
    m = draw(st.integers(3, 5))
    options = NAMES[:m]
    ranking = st.permutations(options).flatmap(
        (lambda p: st.just(list(p))) if complete
        else (lambda p: st.integers(1, m).map(lambda k: list(p[:k]))))
    ballots = draw(st.lists(ranking, min_size=min_ballots, max_size=25))
    return options, ballots


def condorcet_winner(options, ballots):
    """Computed directly from the ballots (not through our pairwise matrix)."""
    def prefers(b, x, y):
        if x not in b:
            return False
        return y not in b or b.index(x) < b.index(y)

    for x in options:
        if all(sum(prefers(b, x, y) for b in ballots) > sum(prefers(b, y, x) for b in ballots)
               for y in options if y != x):
            return x
    return None


@given(ranked_profiles(min_ballots=1))
def test_condorcet_winner_always_wins_schulze(profile):
    options, ballots = profile
    cw = condorcet_winner(options, ballots)
    result = tally_schulze(options, ballots, None, {})
    if cw is not None:
        assert result["winners"] == [cw]
        assert result["winner"] == cw
    else:
        assert result["winner"] in result["winners"]


@given(ranked_profiles(min_ballots=1), st.data())
def test_ranking_a_borda_winner_first_keeps_it_winning(profile, data):
    options, ballots = profile
    before = tally_borda(options, ballots, None, {})
    winner = data.draw(st.sampled_from(before["winners"]))
    rest = data.draw(st.permutations([o for o in options if o != winner]))
    cut = data.draw(st.integers(0, len(rest)))
    after = tally_borda(options, ballots + [[winner, *rest[:cut]]], None, {})
    # it gains n-1 points, every other option at most n-2: it is now the only winner
    assert after["winners"] == [winner]
    assert after["scores"][winner] == before["scores"][winner] + len(options) - 1


@given(st.lists(st.lists(st.sampled_from(NAMES), unique=True, min_size=1), max_size=30),
       st.randoms(use_true_random=False))
def test_approval_counts_do_not_depend_on_ballot_order(ballots, rnd):
    before = tally_approval(NAMES, ballots, None, {})
    shuffled = ballots[:]
    rnd.shuffle(shuffled)
    after = tally_approval(NAMES, shuffled, None, {})
    assert after == before
    for o in NAMES:
        assert before["counts"][o] == sum(o in b for b in ballots)


def _shuffle_all(ballots, counts, rnd):
    idx = list(range(len(ballots)))
    rnd.shuffle(idx)
    return [ballots[i] for i in idx], [counts[i] for i in idx]


@st.composite
def any_method_profile(draw):
    method = draw(st.sampled_from(["majority", "plurality", "approval", "irv", "schulze",
                                   "borda", "score", "satisfaction"]))
    m = draw(st.integers(2, 5))
    options = NAMES[:m]
    if method == "majority":
        ballot = st.sampled_from(["yes", "no", "abstain"])
    elif method == "plurality":
        ballot = st.sampled_from(options)
    elif method == "approval":
        ballot = st.lists(st.sampled_from(options), unique=True, min_size=1)
    elif method in ("irv", "schulze", "borda"):
        ballot = st.lists(st.sampled_from(options), unique=True, min_size=1)
    elif method == "score":
        ballot = st.dictionaries(st.sampled_from(options), st.integers(0, 10), min_size=1)
    else:
        ballot = st.dictionaries(st.sampled_from(options), st.integers(1, 5), min_size=1)
    ballots = draw(st.lists(ballot, max_size=20))
    counts = draw(st.lists(st.integers(0, 4), min_size=len(ballots), max_size=len(ballots)))
    return method, options, ballots, counts


FUNCS = {"majority": tally_majority, "plurality": tally_plurality, "approval": tally_approval,
         "irv": tally_irv, "schulze": tally_schulze, "borda": tally_borda,
         "score": tally_score, "satisfaction": tally_satisfaction}


@settings(max_examples=300)
@given(any_method_profile(), st.randoms(use_true_random=False))
def test_results_do_not_depend_on_ballot_order(case, rnd):
    """Shuffling the ballots changes nothing — not even the lottery seed — and
    aggregated counts give the same result as the ballots written out one by one."""
    method, options, ballots, counts = case
    tally = FUNCS[method]
    result = tally(options, ballots, counts, {})
    assert json.loads(json.dumps(result)) == result  # JSON-serialisable, nothing lost
    sb, sc = _shuffle_all(ballots, counts, rnd)
    assert tally(options, sb, sc, {}) == result
    expanded = [b for b, c in zip(ballots, counts) for _ in range(c)]
    assert tally(options, expanded, None, {}) == result
    assert set(result["winners"]) <= set(options) | {"yes", "no"}
    assert (result["winner"] is None) == (result["winners"] == [])
    if result["winner"] is not None:
        assert result["winner"] in result["winners"]


@given(ranked_profiles(min_ballots=1))
def test_irv_rounds_account_for_every_ballot(profile):
    options, ballots = profile
    result = tally_irv(options, ballots, None, {})
    exhausted = 0
    for rnd in result["rounds"]:
        assert sum(rnd["counts"].values()) == rnd["continuing"]
        assert rnd["continuing"] + rnd["exhausted"] == len(ballots)
        assert rnd["exhausted"] >= exhausted  # exhausted ballots stay exhausted
        exhausted = rnd["exhausted"]
    assert result["rounds"][-1]["elected"] == result["winner"]


def test_random_module_not_used_for_lottery():
    """Two runs with different global random state pick the same lottery winner."""
    ballots = [["A", "B"], ["B", "A"]]
    random.seed(1)
    a = tally_schulze(["A", "B"], ballots, None, {})
    random.seed(2)
    b = tally_schulze(["A", "B"], ballots, None, {})
    assert a["winner"] == b["winner"]

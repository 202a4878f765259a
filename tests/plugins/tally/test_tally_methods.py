"""Hand-computed examples for every built-in tally method."""

from __future__ import annotations

import json
import random

import pytest

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

ALL = [tally_majority, tally_plurality, tally_approval, tally_irv, tally_schulze,
       tally_borda, tally_score, tally_satisfaction]


def expand(pairs):
    """[(ballot, n), ...] -> the ballots one by one."""
    return [b for b, n in pairs for _ in range(n)]


# -- every method -----------------------------------------------------------


@pytest.mark.parametrize("tally", ALL, ids=lambda f: f.__name__)
def test_zero_ballots_give_no_winner(tally):
    result = tally(["A", "B", "C"], [], None, {})
    assert result["winners"] == []
    assert result["winner"] is None
    assert result["ballots"] == 0
    json.dumps(result)


@pytest.mark.parametrize("tally", ALL, ids=lambda f: f.__name__)
def test_unknown_parameter_is_refused(tally):
    with pytest.raises(ValueError, match="unknown parameter"):
        tally(["A", "B"], [], None, {"bogus": 1})


@pytest.mark.parametrize("tally", ALL, ids=lambda f: f.__name__)
def test_counts_must_match_ballots(tally):
    with pytest.raises(ValueError, match="one entry per ballot"):
        tally(["A", "B"], [], [1], {})


# -- majority ---------------------------------------------------------------


def test_majority_simple_passes_and_reports_counts():
    r = tally_majority([], expand([("yes", 5), ("no", 3), ("abstain", 4)]), None, {})
    assert r["passed"] is True
    assert r["counts"] == {"yes": 5, "no": 3, "abstain": 4}
    assert r["ballots"] == 12
    assert r["required_yes"] == 5
    assert (r["winners"], r["winner"]) == (["yes"], "yes")


def test_majority_tie_does_not_pass():
    r = tally_majority([], expand([("yes", 3), ("no", 3)]), None, {})
    assert r["passed"] is False and r["tied"] is True
    assert r["winners"] == ["no"]


def test_majority_two_thirds_boundary():
    exactly = tally_majority([], expand([("yes", 6), ("no", 3)]), None, {"threshold": "two_thirds"})
    assert exactly["passed"] is True and exactly["required_yes"] == 6
    short = tally_majority([], expand([("yes", 5), ("no", 3)]), None, {"threshold": "two_thirds"})
    assert short["passed"] is False and short["winners"] == ["no"]
    # the same 5:3 passes a simple majority
    assert tally_majority([], expand([("yes", 5), ("no", 3)]), None, {})["passed"] is True


def test_majority_quorum_counts_abstentions():
    ballots = expand([("yes", 2), ("abstain", 3)])
    met = tally_majority([], ballots, None, {"quorum": 5})
    assert met["quorum_met"] is True and met["passed"] is True
    missed = tally_majority([], ballots, None, {"quorum": 6})
    assert missed["quorum_met"] is False
    assert missed["passed"] is False
    assert missed["winners"] == [] and missed["winner"] is None


def test_majority_everyone_abstains():
    r = tally_majority([], ["abstain"] * 4, None, {})
    assert r["passed"] is False and r["winners"] == ["no"]


def test_majority_counts_and_edge_shape():
    r = tally_majority([], ["yes", {"choice": "no"}, "abstain"], [7, 2, 0], {})
    assert r["counts"] == {"yes": 7, "no": 2, "abstain": 0}


def test_majority_bad_params():
    with pytest.raises(ValueError):
        tally_majority([], [], None, {"threshold": "three_quarters"})
    with pytest.raises(ValueError):
        tally_majority([], [], None, {"quorum": -1})


# -- plurality and approval ---------------------------------------------------


def test_plurality_counts_and_winner():
    r = tally_plurality(["A", "B", "C"], ["B", "A", "B", "C"], None, {})
    assert r["counts"] == {"A": 1, "B": 2, "C": 1}
    assert (r["winners"], r["winner"], r["tie_break"]) == (["B"], "B", None)


def test_plurality_tie_lists_all_and_breaks_by_lottery():
    r = tally_plurality(["C", "A", "B"], ["A", "B", "A", "B", "C"], None, {})
    assert r["winners"] == ["A", "B"]  # options order
    tb = r["tie_break"]
    assert tb["rule"] == "lottery" and tb["tied"] == ["A", "B"]
    assert sorted(tb["order"]) == ["A", "B", "C"]
    assert r["winner"] == [o for o in tb["order"] if o in ("A", "B")][0]


def test_plurality_unknown_option():
    with pytest.raises(ValueError, match="unknown option"):
        tally_plurality(["A"], ["Z"], None, {})


def test_approval_counts_with_aggregated_counts():
    r = tally_approval(["A", "B", "C"], [["A", "B"], ["B"], ["C", "A"]], [2, 1, 1], {})
    assert r["counts"] == {"A": 3, "B": 3, "C": 1}
    assert r["ballots"] == 4
    assert r["winners"] == ["A", "B"]
    assert r["winner"] in ("A", "B")


def test_approval_max_approvals_enforced():
    with pytest.raises(ValueError, match="more than 1"):
        tally_approval(["A", "B"], [["A", "B"]], None, {"max_approvals": 1})


# -- IRV ----------------------------------------------------------------------


def test_irv_truncated_ballots_exhaust_and_earlier_round_tie_break():
    ballots = expand([(["A", "B"], 4), (["B"], 3), (["C"], 2), (["D", "C"], 1)])
    r = tally_irv(["A", "B", "C", "D"], ballots, None, {})
    r1, r2, r3 = r["rounds"]
    assert r1["counts"] == {"A": 4, "B": 3, "C": 2, "D": 1}
    assert r1["eliminated"] == ["D"] and r1["exhausted"] == 0
    # D's ballot goes to C: B and C tie on 3; C had fewer in round 1, so C goes
    assert r2["counts"] == {"A": 4, "B": 3, "C": 3}
    assert r2["eliminated"] == ["C"]
    assert r2["tie_break"] == {"tied": ["B", "C"], "rule": "earlier_rounds", "round": 1}
    # the three ballots that ranked only C (or D then C) are exhausted
    assert r3["counts"] == {"A": 4, "B": 3}
    assert (r3["continuing"], r3["exhausted"]) == (7, 3)
    assert r3["elected"] == "A"
    assert (r["winners"], r["winner"]) == (["A"], "A")


def test_irv_majority_in_first_round_stops():
    r = tally_irv(["A", "B", "C"], expand([(["B", "A"], 3), (["A"], 2)]), None, {})
    assert len(r["rounds"]) == 1 and r["rounds"][0]["elected"] == "B"
    assert r["winners"] == ["B"]


def test_irv_transfers_follow_next_preference():
    ballots = expand([(["A"], 4), (["B"], 3), (["C", "B"], 2)])
    r = tally_irv(["A", "B", "C"], ballots, None, {})
    assert r["rounds"][1]["counts"] == {"A": 4, "B": 5}
    assert r["winners"] == ["B"]


def test_irv_options_without_votes_are_eliminated_together():
    ballots = expand([(["A"], 2), (["B"], 2), (["C", "A"], 1)])
    r = tally_irv(["A", "B", "C", "D", "E"], ballots, None, {})
    assert r["rounds"][0]["eliminated"] == ["D", "E"]
    assert r["rounds"][0]["tie_break"] is None
    assert r["rounds"][1]["eliminated"] == ["C"]
    assert r["winners"] == ["A"]


def test_irv_cycle_every_option_can_win_and_lottery_decides():
    ballots = [["A", "B", "C"], ["B", "C", "A"], ["C", "A", "B"]]
    r = tally_irv(["A", "B", "C"], ballots, None, {})
    assert r["winners"] == ["A", "B", "C"]
    first = r["rounds"][0]
    tb = first["tie_break"]
    assert tb["rule"] == "lottery" and tb["tied"] == ["A", "B", "C"]
    # the latest in the lottery order is eliminated; its ballot decides the rest
    assert first["eliminated"] == [tb["lottery_order"][-1]]
    nxt = {"A": "B", "B": "C", "C": "A"}[first["eliminated"][0]]
    assert r["winner"] == nxt
    assert r["lottery"]["seed"] == tb["seed"]


def test_irv_final_two_tie_lists_both():
    r = tally_irv(["A", "B", "C"], expand([(["A"], 2), (["B"], 2)]), None, {})
    assert r["winners"] == ["A", "B"]
    assert r["winner"] in ("A", "B")
    last_elim = r["rounds"][1]
    assert last_elim["tie_break"]["rule"] == "lottery"  # tied in round 1 as well
    assert r["rounds"][-1]["elected"] == r["winner"]


def test_irv_counts_equal_expanded_ballots():
    pairs = [(["A", "C"], 5), (["B"], 4), (["C", "B"], 3), (["D", "A"], 1)]
    a = tally_irv(["A", "B", "C", "D"], expand(pairs), None, {})
    b = tally_irv(["A", "B", "C", "D"], [p for p, _ in pairs], [n for _, n in pairs], {})
    assert a == b


def test_irv_rejects_duplicates_and_unknowns():
    with pytest.raises(ValueError, match="twice"):
        tally_irv(["A", "B"], [["A", "A"]], None, {})
    with pytest.raises(ValueError, match="unknown"):
        tally_irv(["A", "B"], [["A", "Z"]], None, {})


# -- Schulze --------------------------------------------------------------------

# Markus Schulze's example (Wikipedia, "Schulze method"): 45 voters, 5 options.
SCHULZE_EXAMPLE = [("ACBED", 5), ("ADECB", 5), ("BEDAC", 8), ("CABED", 3),
                   ("CAEBD", 7), ("CBADE", 2), ("DCEBA", 7), ("EBADC", 8)]
# Pairwise d[X][Y] and strongest paths (winning votes) from the same article.
SCHULZE_D = [[0, 20, 26, 30, 22], [25, 0, 16, 33, 18], [19, 29, 0, 17, 24],
             [15, 12, 28, 0, 14], [23, 27, 21, 31, 0]]
SCHULZE_P_WV = [[0, 28, 28, 30, 24], [25, 0, 28, 33, 24], [25, 29, 0, 29, 24],
                [25, 28, 28, 0, 24], [25, 28, 28, 31, 0]]


def test_schulze_wikipedia_example():
    ballots = expand([(list(order), n) for order, n in SCHULZE_EXAMPLE])
    r = tally_schulze(list("ABCDE"), ballots, None, {})
    assert r["pairwise"] == SCHULZE_D
    # with complete rankings of 45 voters a margin is 2 * votes - 45
    expected_p = [[0 if i == j else 2 * v - 45 for j, v in enumerate(row)]
                  for i, row in enumerate(SCHULZE_P_WV)]
    assert r["strongest_paths"] == expected_p
    assert (r["winners"], r["winner"]) == (["E"], "E")


def test_schulze_truncated_ranked_beats_unranked():
    r = tally_schulze(["A", "B", "C"], [["A"], ["A"], ["B", "C"]], None, {})
    d = r["pairwise"]
    assert d[0][1] == 2 and d[1][0] == 1 and d[1][2] == 1 and d[2][1] == 0
    assert d[0][2] == 2 and d[2][0] == 1
    assert r["winners"] == ["A"]


def test_schulze_symmetric_tie():
    r = tally_schulze(["A", "B"], [["A", "B"], ["B", "A"]], None, {})
    assert r["winners"] == ["A", "B"]
    assert r["tie_break"]["rule"] == "lottery"


# -- Borda ----------------------------------------------------------------------


def test_borda_truncated_unranked_score_zero():
    ballots = expand([(["A", "B", "C"], 2), (["B", "C", "A"], 2), (["C"], 1)])
    r = tally_borda(["A", "B", "C"], ballots, None, {})
    # A: 2*2; B: 2*1 + 2*2; C: 2*1 + 1*2 (first on a truncated ballot still scores n-1)
    assert r["scores"] == {"A": 4, "B": 6, "C": 4}
    assert r["first_preferences"] == {"A": 2, "B": 2, "C": 1}
    assert r["winners"] == ["B"]


def test_borda_tie():
    r = tally_borda(["A", "B", "C"], [["A", "B", "C"], ["B", "A", "C"]], None, {})
    assert r["scores"] == {"A": 3, "B": 3, "C": 0}
    assert r["winners"] == ["A", "B"] and r["winner"] in ("A", "B")


def test_borda_single_option():
    r = tally_borda(["Only"], [["Only"]], None, {})
    assert r["winners"] == ["Only"]


# -- score and satisfaction -------------------------------------------------------


def test_score_totals_unscored_gets_min():
    ballots = [{"A": 10, "B": 4}, {"A": 0, "B": 7}, {"B": 5}]
    r = tally_score(["A", "B"], ballots, None, {})
    assert r["totals"] == {"A": 10, "B": 16}
    assert r["means"] == {"A": 10 / 3, "B": 16 / 3}
    assert r["scored_by"] == {"A": 2, "B": 3}
    assert r["winners"] == ["B"]


def test_score_custom_range_and_min_default():
    r = tally_score(["A", "B"], [{"A": 2}, {"B": -1}], None, {"min": -2, "max": 2})
    assert r["totals"] == {"A": 0, "B": -3}
    assert r["winners"] == ["A"]
    with pytest.raises(ValueError, match="from -2 to 2"):
        tally_score(["A"], [{"A": 3}], None, {"min": -2, "max": 2})
    with pytest.raises(ValueError, match="below max"):
        tally_score(["A"], [], None, {"min": 3, "max": 3})


def test_score_tie():
    r = tally_score(["A", "B"], [{"A": 3, "B": 5}, {"A": 5, "B": 3}], None, {})
    assert r["winners"] == ["A", "B"]


def test_satisfaction_average_distribution_and_unrated():
    ballots = [{"Water": 5, "Roads": 2}, {"Water": 4}, {"Water": 3, "Roads": 5}]
    r = tally_satisfaction(["Water", "Roads", "Parks"], ballots, [1, 2, 1], {})
    assert r["ratings"] == {"Water": 4, "Roads": 2, "Parks": 0}
    assert r["averages"] == {"Water": 4.0, "Roads": 3.5, "Parks": None}
    assert r["distribution"]["Water"] == {"1": 0, "2": 0, "3": 1, "4": 2, "5": 1}
    assert r["distribution"]["Parks"] == {"1": 0, "2": 0, "3": 0, "4": 0, "5": 0}
    assert r["winners"] == ["Water"]


def test_satisfaction_tie_on_average_not_total():
    # Roads has more ratings, but the same average: a tie
    r = tally_satisfaction(["Water", "Roads"], [{"Water": 4, "Roads": 4}, {"Roads": 4}], None, {})
    assert r["winners"] == ["Water", "Roads"]


def test_satisfaction_rejects_out_of_range():
    with pytest.raises(ValueError):
        tally_satisfaction(["A"], [{"A": 6}], None, {})


# -- the lottery --------------------------------------------------------------------


def test_lottery_depends_on_ballots_not_their_order():
    base = expand([(["A", "B"], 3), (["B", "A"], 3), (["C"], 1)])
    r1 = tally_borda(["A", "B", "C"], base, None, {})
    shuffled = base[:]
    random.Random(4).shuffle(shuffled)
    r2 = tally_borda(["A", "B", "C"], shuffled, None, {})
    assert r1 == r2
    assert r1["tie_break"]["seed"] == r2["tie_break"]["seed"]
    r3 = tally_borda(["A", "B", "C"], base + [["C"]], None, {})
    assert r3["tie_break"]["seed"] != r1["tie_break"]["seed"]

"""The built-in tally methods: pure functions ``tally(options, ballots, counts, params)``.

* ``options``: the option names, in the order the ballot paper shows them;
* ``ballots``: one entry per (distinct) ballot, in the form the ballot schema's
  ``load()`` returns — ``"yes"``, ``"A"``, ``["A", "B"]``, ``{"A": 3}``; the edge shape
  (``{"choice": ...}``, ``{"ranking": [...]}``...) is accepted too;
* ``counts``: ``None`` (each ballot counts once) or one non-negative integer per ballot,
  for aggregated ballots;
* ``params``: the method's parameters (see :data:`plugins.tally._common.PARAMS`).

Each returns a JSON-serialisable dict with ``method``, ``ballots`` (how many were
counted), ``winners`` (every tied winner, in ``options`` order, ``[]`` when nobody can
win), ``winner`` (one name chosen by the method's documented tie-break, or ``None``),
``tie_break`` (how ``winner`` was chosen from a tie, or ``None``) and the figures a
resident needs to check the result. Bad input raises :class:`ValueError`; ballots are
expected to have been validated by the ballot schema already.

Ranked methods aggregate identical ballots first and count with numpy, so a million
ballots over eight options are counted in well under a second (``bench/bench_tally.py``).
"""

from __future__ import annotations

from collections import Counter
from fractions import Fraction
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from plugins.tally._common import (
    Lottery,
    best,
    check_counts,
    check_options,
    check_params,
    pick_winner,
    unwrap,
    weighted,
)

Ballots = Sequence[Any]
Counts = Sequence[int] | None
Params = Mapping[str, Any] | None

#: how many candidate sets the IRV "every possible tie-break" search may visit before
#: it gives up and reports only the winner of the documented tie-break path.
IRV_MAX_STATES = 20_000


def _start(method: str, options: Sequence[str], ballots: Ballots, counts: Counts,
           params: Params) -> tuple[list[str], dict[str, Any]]:
    options = check_options(options)
    check_counts(ballots, counts)
    return options, check_params(method, params)


# ---------------------------------------------------------------------------
# Majority (yes / no / abstain)
# ---------------------------------------------------------------------------

MAJORITY_CHOICES = ("yes", "no", "abstain")


def tally_majority(options: Sequence[str], ballots: Ballots, counts: Counts = None,
                   params: Params = None) -> dict[str, Any]:
    """A motion put to a yes / no / abstain vote.

    ``options`` is ignored (the choices are always yes, no, abstain). The quorum is met
    when at least ``quorum`` ballots were cast, abstentions included. The motion passes
    when the quorum is met and ``yes`` reaches the threshold among ``yes + no``:
    ``simple`` needs more than half, ``two_thirds`` at least two thirds. A tie under
    ``simple`` does not pass, and nor does a vote where everyone abstained.

    ``winners`` is ``["yes"]`` (carried) or ``["no"]`` (not carried), or ``[]`` when
    there is no decision (no ballot, or quorum not met).
    """
    _, params = _start("majority", options, ballots, counts, params)
    tally = Counter({c: 0 for c in MAJORITY_CHOICES})
    for ballot, count in weighted(ballots, counts):
        choice = unwrap(ballot, "choice")
        if choice not in MAJORITY_CHOICES:
            raise ValueError(f"a majority ballot must be yes, no or abstain, not {choice!r}")
        tally[choice] += count
    yes, no, abstain = tally["yes"], tally["no"], tally["abstain"]
    cast = yes + no + abstain
    quorum = params["quorum"]
    quorum_met = cast >= quorum
    decisive = yes + no
    if params["threshold"] == "two_thirds":
        required = -(-2 * decisive // 3)  # ceil(2/3 of yes+no)
        reached = decisive > 0 and 3 * yes >= 2 * decisive
    else:
        required = decisive // 2 + 1
        reached = 2 * yes > decisive
    passed = bool(quorum_met and cast > 0 and reached)
    if cast == 0 or not quorum_met:
        winners: list[str] = []
    else:
        winners = ["yes"] if passed else ["no"]
    return {
        "method": "majority",
        "ballots": cast,
        "counts": {"yes": yes, "no": no, "abstain": abstain},
        "quorum": quorum,
        "quorum_met": quorum_met,
        "threshold": params["threshold"],
        "required_yes": required if decisive else None,
        "passed": passed,
        "tied": bool(decisive and yes == no),
        "winners": winners,
        "winner": winners[0] if winners else None,
        "tie_break": None,
    }


# ---------------------------------------------------------------------------
# Plurality and approval
# ---------------------------------------------------------------------------


def tally_plurality(options: Sequence[str], ballots: Ballots, counts: Counts = None,
                    params: Params = None) -> dict[str, Any]:
    """One option per ballot; the most votes win. An option needs at least one vote."""
    options, _ = _start("plurality", options, ballots, counts, params)
    if counts is None and all(type(b) is str for b in ballots):
        agg: Counter = Counter(ballots)
    else:
        agg = Counter()
        for ballot, count in weighted(ballots, counts):
            agg[unwrap(ballot, "choice")] += count
    votes = {o: 0 for o in options}
    for choice, count in agg.items():
        if count == 0:
            continue
        if not isinstance(choice, str) or choice not in votes:
            raise ValueError(f"a ballot chooses an unknown option: {choice!r}")
        votes[choice] += count
    total = sum(votes.values())
    winners = best([o for o in options if votes[o] > 0], votes.__getitem__)
    lottery = Lottery("plurality", options, lambda: ((k, c) for k, c in agg.items()))
    winner, tie_break = pick_winner(winners, lottery)
    return {"method": "plurality", "ballots": total, "counts": votes,
            "winners": winners, "winner": winner, "tie_break": tie_break}


def tally_approval(options: Sequence[str], ballots: Ballots, counts: Counts = None,
                   params: Params = None) -> dict[str, Any]:
    """Each ballot approves any number of options (at most ``max_approvals`` when set);
    the most approvals win. An option needs at least one approval."""
    options, params = _start("approval", options, ballots, counts, params)
    index = {o: i for i, o in enumerate(options)}
    agg: Counter = Counter()
    for ballot, count in weighted(ballots, counts):
        approvals = unwrap(ballot, "approvals")
        if not isinstance(approvals, (list, tuple)):
            raise ValueError("an approval ballot must be a list of options")
        agg[tuple(approvals)] += count
    approved = {o: 0 for o in options}
    canonical: dict[tuple[str, ...], int] = {}
    total = 0
    limit = params["max_approvals"]
    for key, count in agg.items():
        if count == 0:
            continue
        if any(not isinstance(o, str) or o not in index for o in key):
            raise ValueError("a ballot approves an unknown option")
        if len(set(key)) != len(key):
            raise ValueError("a ballot approves an option twice")
        if limit is not None and len(key) > limit:
            raise ValueError(f"a ballot approves more than {limit} options")
        for o in key:
            approved[o] += count
        total += count
        ordered = tuple(sorted(key, key=index.__getitem__))
        canonical[ordered] = canonical.get(ordered, 0) + count
    winners = best([o for o in options if approved[o] > 0], approved.__getitem__)
    lottery = Lottery("approval", options, lambda: ((list(k), c) for k, c in canonical.items()))
    winner, tie_break = pick_winner(winners, lottery)
    return {"method": "approval", "ballots": total, "counts": approved,
            "max_approvals": limit, "winners": winners, "winner": winner,
            "tie_break": tie_break}


# ---------------------------------------------------------------------------
# Ranked ballots: IRV, Schulze, Borda
# ---------------------------------------------------------------------------


class RankedProfile:
    """Distinct ranked ballots as option indices, with their weights.

    ``choices`` is a ``U x n`` matrix: row ``u`` lists ballot ``u``'s options most
    preferred first, padded with ``n``. ``positions[u, o]`` is the 0-based place of
    option ``o`` on ballot ``u``, or ``n`` when the ballot leaves it unranked.
    """

    def __init__(self, options: list[str], ballots: Ballots, counts: Counts) -> None:
        self.options = options
        n = self.n = len(options)
        index = {o: i for i, o in enumerate(options)}
        plain = set(map(type, ballots)) <= {list, tuple}
        if plain and counts is None:
            agg: Counter = Counter(map(tuple, ballots))
        elif plain:
            agg = Counter()
            for key, count in zip(map(tuple, ballots), counts):
                if count:
                    agg[key] += count
        else:
            agg = Counter()
            for ballot, count in weighted(ballots, counts):
                ranking = unwrap(ballot, "ranking")
                if not isinstance(ranking, (list, tuple)):
                    raise ValueError("a ranked ballot must be a list of options")
                agg[tuple(ranking)] += count
        keys: list[tuple[int, ...]] = []
        weights: list[int] = []
        for key, count in agg.items():
            if count == 0:
                continue
            try:
                enc = tuple([index[o] for o in key])
            except (KeyError, TypeError):
                raise ValueError("a ballot ranks an unknown option") from None
            if len(set(enc)) != len(enc):
                raise ValueError("a ballot ranks an option twice")
            keys.append(enc)
            weights.append(count)
        self.keys = keys
        self.weights = np.asarray(weights, dtype=np.int64)
        self.total = int(self.weights.sum()) if weights else 0
        u = len(keys)
        choices = np.full((u, n), n, dtype=np.int64)
        positions = np.full((u, n), n, dtype=np.int64)
        by_length: dict[int, list[int]] = {}
        for row, key in enumerate(keys):
            by_length.setdefault(len(key), []).append(row)
        for length, rows in by_length.items():
            if length == 0:
                continue
            r = np.asarray(rows, dtype=np.int64)
            k = np.asarray([keys[i] for i in rows], dtype=np.int64)
            choices[r, :length] = k
            positions[r[:, None], k] = np.arange(length, dtype=np.int64)[None, :]
        self.choices = choices
        self.positions = positions
        self.ranked_any = self.total > 0 and any(len(k) for k in keys)

    def canonical(self) -> Iterable[tuple[list[str], int]]:
        return (([self.options[i] for i in k], int(w)) for k, w in zip(self.keys, self.weights))

    def first_counts(self, alive: np.ndarray) -> np.ndarray:
        """Weighted count of ballots whose highest-ranked continuing option is each
        option (``alive`` is a boolean mask of continuing options)."""
        n = self.n
        if not self.keys:
            return np.zeros(n, dtype=np.int64)
        mask = np.append(alive, False)[self.choices]
        has = mask.any(axis=1)
        first = self.choices[np.arange(len(self.keys)), mask.argmax(axis=1)]
        votes = np.bincount(first[has], weights=self.weights[has], minlength=n + 1)[:n]
        return np.rint(votes).astype(np.int64)


def _names(options: list[str], idx: Iterable[int]) -> list[str]:
    return [options[i] for i in sorted(idx)]


def tally_irv(options: Sequence[str], ballots: Ballots, counts: Counts = None,
              params: Params = None) -> dict[str, Any]:
    """Instant runoff on ranked, possibly truncated ballots.

    Each round every ballot counts for its highest-ranked continuing option; a ballot
    with none left is *exhausted*. An option with more than half of the continuing
    ballots is elected (so is the last option standing). Otherwise every option with no
    votes at all is eliminated together (that changes nobody's vote), or else the
    option with the fewest votes. An elimination tie is broken by the counts of the
    earlier rounds, most recent first (the tied option that had fewer votes there goes),
    and if they tied in every earlier round, by the lottery (the latest in the lottery
    order goes). ``rounds`` records each step and any tie-break.

    ``winners`` is every option that wins under *some* way of breaking the elimination
    ties ("parallel universe" tie-breaking), so a tie that could have changed the result
    is visible; ``winner`` is the one the documented tie-break produced.
    """
    options, _ = _start("irv", options, ballots, counts, params)
    prof = RankedProfile(options, ballots, counts)
    lottery = Lottery("irv", options, prof.canonical)
    n = len(options)
    result: dict[str, Any] = {"method": "irv", "ballots": prof.total, "rounds": [],
                              "winners": [], "winner": None, "tie_break": None,
                              "winners_exhaustive": True}
    if not prof.ranked_any or n == 0:
        return result

    cache: dict[int, np.ndarray] = {}

    def counts_for(mask_bits: int) -> np.ndarray:
        if mask_bits not in cache:
            alive = np.array([(mask_bits >> i) & 1 == 1 for i in range(n)])
            cache[mask_bits] = prof.first_counts(alive)
        return cache[mask_bits]

    def step(mask_bits: int) -> tuple[int | None, list[int], list[int]]:
        """(elected, eliminated-for-sure, tied-lowest) for a set of continuing options."""
        votes = counts_for(mask_bits)
        remaining = [i for i in range(n) if (mask_bits >> i) & 1]
        continuing = int(sum(int(votes[i]) for i in remaining))
        top = max(remaining, key=lambda i: votes[i])
        if len(remaining) == 1 or 2 * int(votes[top]) > continuing:
            return top, [], []
        zeros = [i for i in remaining if votes[i] == 0]
        if zeros:
            return None, zeros, []
        low = min(int(votes[i]) for i in remaining)
        tied = [i for i in remaining if votes[i] == low]
        if len(tied) == 1:
            return None, tied, []
        return None, [], tied

    # The documented path, round by round.
    mask = (1 << n) - 1
    history: list[np.ndarray] = []
    rounds = result["rounds"]
    while True:
        votes = counts_for(mask)
        remaining = [i for i in range(n) if (mask >> i) & 1]
        continuing = int(sum(int(votes[i]) for i in remaining))
        record: dict[str, Any] = {
            "round": len(rounds) + 1,
            "counts": {options[i]: int(votes[i]) for i in remaining},
            "continuing": continuing,
            "exhausted": prof.total - continuing,
            "eliminated": [],
            "elected": None,
            "tie_break": None,
        }
        rounds.append(record)
        elected, out, tied = step(mask)
        if elected is not None:
            record["elected"] = options[elected]
            result["winner"] = options[elected]
            break
        if tied:
            loser, record["tie_break"] = _irv_break_tie(options, tied, history, lottery)
            out = [loser]
        record["eliminated"] = _names(options, out)
        history.append(votes)
        for i in out:
            mask &= ~(1 << i)

    # Every winner over all ways of breaking the elimination ties.
    memo: dict[int, frozenset[int]] = {}

    class _TooMany(Exception):
        pass

    def put(mask_bits: int) -> frozenset[int]:
        if mask_bits in memo:
            return memo[mask_bits]
        if len(memo) > IRV_MAX_STATES:
            raise _TooMany
        elected, out, tied = step(mask_bits)
        if elected is not None:
            found = frozenset([elected])
        elif out:
            found = put(mask_bits & ~sum(1 << i for i in out))
        else:
            found = frozenset().union(*(put(mask_bits & ~(1 << t)) for t in tied))
        memo[mask_bits] = found
        return found

    try:
        result["winners"] = _names(options, put((1 << n) - 1))
    except _TooMany:
        result["winners"] = [result["winner"]]
        result["winners_exhaustive"] = False
    if len(result["winners"]) > 1:
        result["tie_break"] = {"tied": result["winners"], "rule": "elimination_order",
                               "detail": "the winner of the rounds shown, whose "
                                         "elimination ties were broken as recorded there"}
    if lottery.used:
        result["lottery"] = lottery.report()
    return result


def _irv_break_tie(options: list[str], tied: list[int], history: list[np.ndarray],
                   lottery: Lottery) -> tuple[int, dict[str, Any]]:
    """Which of ``tied`` (all with the fewest votes) to eliminate, and why."""
    names = _names(options, tied)
    candidates = list(tied)
    for back, votes in enumerate(reversed(history)):
        low = min(int(votes[i]) for i in candidates)
        fewest = [i for i in candidates if votes[i] == low]
        if len(fewest) < len(candidates):
            candidates = fewest
        if len(candidates) == 1:
            return candidates[0], {"tied": names, "rule": "earlier_rounds",
                                   "round": len(history) - back}
    order = lottery.order(options[i] for i in candidates)
    loser = options.index(order[-1])
    return loser, {"tied": names, "rule": "lottery", "lottery_order": order,
                   "seed": lottery.seed}


def pairwise_matrix(prof: RankedProfile) -> np.ndarray:
    """``d[a, b]``: how many ballots rank ``a`` above ``b`` (a ranked option is above
    every unranked one; unranked options are not compared with each other)."""
    n = prof.n
    d = np.zeros((n, n), dtype=np.int64)
    if not prof.keys:
        return d
    pos = prof.positions
    w = prof.weights
    for a in range(n):
        d[a] = w @ (pos[:, a:a + 1] < pos).astype(np.int64)
    return d


def tally_schulze(options: Sequence[str], ballots: Ballots, counts: Counts = None,
                  params: Params = None) -> dict[str, Any]:
    """The Schulze method (beat path) with margins as the strength of a defeat.

    ``d[a][b]`` counts the ballots ranking ``a`` above ``b`` (ranked options are above
    unranked ones). A link ``a -> b`` exists when ``d[a][b] > d[b][a]`` and has strength
    ``d[a][b] - d[b][a]``; ``p[a][b]`` is the strength of the strongest path (its weakest
    link), 0 when there is none. The winners are the options ``a`` with
    ``p[a][b] >= p[b][a]`` against every ``b`` — the same as pref_voting's
    ``beat_path``. A tie among winners is broken by the lottery.
    """
    options, _ = _start("schulze", options, ballots, counts, params)
    prof = RankedProfile(options, ballots, counts)
    n = len(options)
    d = pairwise_matrix(prof)
    dl = d.tolist()
    p = [[0] * n for _ in range(n)]
    for a in range(n):
        for b in range(n):
            if a != b and dl[a][b] > dl[b][a]:
                p[a][b] = dl[a][b] - dl[b][a]
    for k in range(n):
        pk = p[k]
        for a in range(n):
            if a == k:
                continue
            pak = p[a][k]
            if not pak:
                continue
            pa = p[a]
            for b in range(n):
                if b != a and b != k:
                    via = pak if pak < pk[b] else pk[b]
                    if via > pa[b]:
                        pa[b] = via
    if prof.ranked_any:
        winners = [options[a] for a in range(n)
                   if all(p[a][b] >= p[b][a] for b in range(n) if b != a)]
    else:
        winners = []
    lottery = Lottery("schulze", options, prof.canonical)
    winner, tie_break = pick_winner(winners, lottery)
    return {"method": "schulze", "ballots": prof.total, "options": options,
            "pairwise": dl, "strongest_paths": p, "strength": "margin",
            "winners": winners, "winner": winner, "tie_break": tie_break}


def tally_borda(options: Sequence[str], ballots: Ballots, counts: Counts = None,
                params: Params = None) -> dict[str, Any]:
    """Borda count. With ``n`` options, the option in place ``k`` (0 = first) of a
    ballot scores ``n - 1 - k``; options a truncated ballot leaves unranked score 0.
    (On complete rankings this is the standard Borda count.) The highest total wins; a
    tie is broken by the lottery."""
    options, _ = _start("borda", options, ballots, counts, params)
    prof = RankedProfile(options, ballots, counts)
    n = len(options)
    if prof.keys:
        pos = prof.positions
        points = np.where(pos < n, n - 1 - pos, 0)
        totals = (prof.weights @ points).tolist()
        first = np.bincount(prof.choices[:, 0], weights=prof.weights, minlength=n + 1)[:n]
        first_prefs = np.rint(first).astype(np.int64).tolist()
    else:
        totals = [0] * n
        first_prefs = [0] * n
    scores = {o: int(totals[i]) for i, o in enumerate(options)}
    winners = best(options, scores.__getitem__) if prof.ranked_any else []
    lottery = Lottery("borda", options, prof.canonical)
    winner, tie_break = pick_winner(winners, lottery)
    return {"method": "borda", "ballots": prof.total, "scores": scores,
            "first_preferences": {o: int(first_prefs[i]) for i, o in enumerate(options)},
            "points": {"ranked": "n - 1 - position", "unranked": 0},
            "winners": winners, "winner": winner, "tie_break": tie_break}


# ---------------------------------------------------------------------------
# Scores and satisfaction ratings
# ---------------------------------------------------------------------------


def _score_ballots(method: str, options: list[str], ballots: Ballots, counts: Counts,
                   low: int, high: int) -> Iterable[tuple[dict[str, int], int]]:
    index = set(options)
    for ballot, count in weighted(ballots, counts):
        scores = unwrap(ballot, "scores")
        if not isinstance(scores, Mapping):
            raise ValueError(f"a {method} ballot must map options to scores")
        for option, value in scores.items():
            if option not in index:
                raise ValueError(f"a ballot scores an unknown option: {option!r}")
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"scores must be whole numbers from {low} to {high}")
        yield scores, count


def tally_score(options: Sequence[str], ballots: Ballots, counts: Counts = None,
                params: Params = None) -> dict[str, Any]:
    """Score (range) voting: each ballot gives options whole-number scores from ``min``
    to ``max`` (default 0 to 10); an option a ballot does not score gets ``min``.
    The highest *total* wins (``means`` — total divided by the number of ballots — rank
    the options the same way, because every ballot counts for every option). A tie is
    broken by the lottery."""
    options, params = _start("score", options, ballots, counts, params)
    low, high = params["min"], params["max"]
    totals = {o: 0 for o in options}
    scored_by = {o: 0 for o in options}
    total = 0
    seen: list[tuple[dict[str, int], int]] = []
    for scores, count in _score_ballots("score", options, ballots, counts, low, high):
        total += count
        for o in options:
            if o in scores:
                totals[o] += scores[o] * count
                scored_by[o] += count
            else:
                totals[o] += low * count
        seen.append((dict(scores), count))
    winners = best(options, totals.__getitem__) if total else []
    lottery = Lottery("score", options, lambda: iter(seen))
    winner, tie_break = pick_winner(winners, lottery)
    means = {o: (totals[o] / total if total else None) for o in options}
    return {"method": "score", "ballots": total, "min": low, "max": high,
            "totals": totals, "means": means, "scored_by": scored_by,
            "winners": winners, "winner": winner, "tie_break": tie_break}


SATISFACTION_LEVELS = (1, 2, 3, 4, 5)


def tally_satisfaction(options: Sequence[str], ballots: Ballots, counts: Counts = None,
                       params: Params = None) -> dict[str, Any]:
    """Satisfaction rating (满意度测评): residents rate options (typically departments
    or carried-out measures) from 1 (very dissatisfied) to 5 (very satisfied), and may
    leave an option unrated. For each option: the number of ratings, the average over
    the ratings it received and the distribution over 1..5. The highest average wins
    (options nobody rated cannot); a tie is broken by the lottery."""
    options, _ = _start("satisfaction", options, ballots, counts, params)
    dist = {o: {str(level): 0 for level in SATISFACTION_LEVELS} for o in options}
    sums = {o: 0 for o in options}
    rated = {o: 0 for o in options}
    total = 0
    seen: list[tuple[dict[str, int], int]] = []
    for scores, count in _score_ballots("satisfaction", options, ballots, counts, 1, 5):
        total += count
        for o, value in scores.items():
            dist[o][str(value)] += count
            sums[o] += value * count
            rated[o] += count
        seen.append((dict(scores), count))
    exact = {o: Fraction(sums[o], rated[o]) for o in options if rated[o]}
    winners = best([o for o in options if o in exact], exact.__getitem__)
    lottery = Lottery("satisfaction", options, lambda: iter(seen))
    winner, tie_break = pick_winner(winners, lottery)
    return {"method": "satisfaction", "ballots": total,
            "averages": {o: (float(exact[o]) if o in exact else None) for o in options},
            "ratings": rated, "distribution": dist,
            "winners": winners, "winner": winner, "tie_break": tie_break}


TALLY_FUNCTIONS = {
    "majority": tally_majority,
    "plurality": tally_plurality,
    "approval": tally_approval,
    "irv": tally_irv,
    "schulze": tally_schulze,
    "borda": tally_borda,
    "score": tally_score,
    "satisfaction": tally_satisfaction,
}

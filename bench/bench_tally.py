"""Benchmark: our ranked tallies (irv, schulze, borda) against pref_voting.

Generates 1,000,000 seeded ranked ballots over 8 options — impartial culture mixed
with a few popular orders — in two scenarios:

* ``complete``: every ballot ranks all 8 options;
* ``truncated``: 60 % complete, 40 % stop after 1–7 options.

Ours is timed end to end from the raw list of ballots (lists of option names): the
aggregation of identical ballots is part of it. It is also timed from the aggregated
ballots (distinct rankings + ``counts``), to compare with pref_voting's build + method. pref_voting is given the ballots
already aggregated (``Counter`` of tuples, timed separately and added for the
end-to-end figure), builds a ``Profile`` (complete) or ``ProfileWithTies`` with
extended strict preference (truncated: ranked above unranked), then runs
``instant_runoff``, ``beat_path`` (Schulze) and ``borda``. numba is warmed up on a
small profile first. pref_voting's Borda is defined on linear orders, so it is not run
on the truncated scenario.

Run from the repository root::

    .venv/bin/python bench/bench_tally.py            # table on stdout
    .venv/bin/python bench/bench_tally.py --json     # the same figures as JSON

Bounded: about a minute on 2 cores (``--ballots`` makes it smaller).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from plugins.tally.methods import tally_borda, tally_irv, tally_schulze  # noqa: E402

OPTIONS = [f"Option {c}" for c in "ABCDEFGH"]
SEED = 2024


def generate(n: int, truncated_share: float, seed: int = SEED) -> list[list[str]]:
    """``n`` ballots: 75 % impartial culture, 25 % from four popular orders (weights
    4:3:2:1); a ``truncated_share`` of them cut after 1–7 options."""
    rng = np.random.default_rng(seed)
    m = len(OPTIONS)
    perms = np.argsort(rng.random((n, m)), axis=1)
    popular = np.array([rng.permutation(m) for _ in range(4)])
    use_popular = rng.random(n) < 0.25
    which = rng.choice(4, size=n, p=[0.4, 0.3, 0.2, 0.1])
    perms[use_popular] = popular[which[use_popular]]
    lengths = np.full(n, m)
    cut = rng.random(n) < truncated_share
    lengths[cut] = rng.integers(1, m, size=int(cut.sum()))
    names = np.array(OPTIONS, dtype=object)[perms]
    return [row[:k].tolist() for row, k in zip(names, lengths.tolist())]


def best_of(repeat: int, fn):
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def run_scenario(name: str, ballots: list[list[str]], repeat: int) -> dict:
    from pref_voting.iterative_methods import instant_runoff
    from pref_voting.margin_based_methods import beat_path
    from pref_voting.profiles import Profile
    from pref_voting.profiles_with_ties import ProfileWithTies
    from pref_voting.scoring_methods import borda

    index = {o: i for i, o in enumerate(OPTIONS)}
    complete = all(len(b) == len(OPTIONS) for b in ballots)

    agg_time, agg = best_of(1, lambda: Counter(map(tuple, ballots)))
    rankings = [[index[o] for o in key] for key in agg]
    counts = list(agg.values())
    keys = [list(key) for key in agg]

    def build():
        if complete:
            return Profile(rankings, rcounts=counts)
        prof = ProfileWithTies([{c: r for r, c in enumerate(k)} for k in rankings],
                               rcounts=counts, candidates=list(range(len(OPTIONS))))
        prof.use_extended_strict_preference()
        return prof

    build_time, profile = best_of(1, build)
    rows = []
    for key, ours_fn, theirs_fn in (
        ("irv", tally_irv, instant_runoff),
        ("schulze", tally_schulze, beat_path),
        ("borda", tally_borda, borda if complete else None),
    ):
        ours_time, ours = best_of(repeat, lambda: ours_fn(OPTIONS, ballots, None, {}))
        # the same tally from the aggregated ballots (distinct rankings + counts), as a
        # service storing ballots aggregated would call it
        counted_time, counted = best_of(repeat, lambda: ours_fn(OPTIONS, keys, counts, {}))
        assert counted["winners"] == ours["winners"]
        row = {"method": key, "ours_s": ours_time, "ours_from_counts_s": counted_time,
               "ours_winners": ours["winners"]}
        if theirs_fn is not None:
            method_time, theirs = best_of(1, lambda: theirs_fn(profile))
            end_to_end = agg_time + build_time + method_time
            row.update({
                "pref_voting_method_s": method_time,
                "pref_voting_end_to_end_s": end_to_end,
                "ratio_end_to_end": ours_time / end_to_end,
                "ratio_method_only": ours_time / method_time,
                "ratio_from_counts": counted_time / (build_time + method_time),
                "pref_voting_winners": [OPTIONS[int(c)] for c in theirs],
            })
            row["same_winners"] = sorted(row["pref_voting_winners"]) == sorted(ours["winners"])
        rows.append(row)
    return {"scenario": name, "ballots": len(ballots), "distinct_ballots": len(agg),
            "aggregate_s": agg_time, "pref_voting_profile": "Profile" if complete else "ProfileWithTies",
            "pref_voting_build_s": build_time, "rows": rows}


def warm_up() -> None:
    """Compile pref_voting's numba functions before anything is timed."""
    from pref_voting.iterative_methods import instant_runoff
    from pref_voting.margin_based_methods import beat_path
    from pref_voting.profiles import Profile
    from pref_voting.profiles_with_ties import ProfileWithTies
    from pref_voting.scoring_methods import borda

    small = Profile([[0, 1, 2], [1, 2, 0], [2, 1, 0]], rcounts=[3, 2, 2])
    instant_runoff(small), beat_path(small), borda(small)
    ties = ProfileWithTies([{0: 0, 1: 1}, {2: 0}], rcounts=[2, 1], candidates=[0, 1, 2])
    ties.use_extended_strict_preference()
    instant_runoff(ties), beat_path(ties)
    tally_irv(["a", "b"], [["a"]], None, {}), tally_schulze(["a", "b"], [["a"]], None, {})


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import pref_voting  # noqa: F401
    from importlib.metadata import version

    return (f"{os.cpu_count()} cores, {cpu}; Python {platform.python_version()}, "
            f"numpy {np.__version__}, pref_voting {version('pref_voting')}, "
            f"numba {version('numba')}")


def fmt(value, spec=".3f"):
    return "–" if value is None else format(value, spec)


def print_table(report: dict) -> None:
    print(f"machine: {report['machine']}")
    for sc in report["scenarios"]:
        print(f"\n{sc['scenario']}: {sc['ballots']:,} ballots, {sc['distinct_ballots']:,} distinct; "
              f"pref_voting aggregation {sc['aggregate_s']:.3f} s + {sc['pref_voting_profile']} "
              f"build {sc['pref_voting_build_s']:.3f} s")
        print(f"{'method':<8} {'ours s':>8} {'pv method s':>12} {'pv e2e s':>9} "
              f"{'ours/pv e2e':>12} {'ours/pv method':>15} {'ours counts s':>14} "
              f"{'/pv build+method':>17}  same winners")
        for r in sc["rows"]:
            print(f"{r['method']:<8} {r['ours_s']:>8.3f} {fmt(r.get('pref_voting_method_s')):>12} "
                  f"{fmt(r.get('pref_voting_end_to_end_s')):>9} {fmt(r.get('ratio_end_to_end'), '.2f'):>12} "
                  f"{fmt(r.get('ratio_method_only'), '.2f'):>15} {r['ours_from_counts_s']:>14.3f} "
                  f"{fmt(r.get('ratio_from_counts'), '.2f'):>17}  {r.get('same_winners', '–')}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ballots", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of ours; the best is kept")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")  # pref_voting/numba chatter is not what we measure
    started = time.perf_counter()
    warm_up()
    report = {"machine": machine(), "seed": SEED, "options": len(OPTIONS), "scenarios": []}
    for name, share in (("complete", 0.0), ("truncated", 0.4)):
        ballots = generate(args.ballots, share)
        report["scenarios"].append(run_scenario(name, ballots, args.repeat))
        del ballots
    report["total_s"] = time.perf_counter() - started
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(report)
        print(f"\ntotal {report['total_s']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

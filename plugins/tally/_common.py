"""Helpers shared by the built-in tally methods: counts, parameters and the lottery.

Nothing here imports marshmallow or Flask; these are plain functions over plain data.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

#: What each built-in method accepts in ``params``: name -> description. The
#: descriptions are plain data so the edge can show a form and the CLI can check a file.
PARAMS: dict[str, dict[str, dict[str, Any]]] = {
    "majority": {
        "quorum": {"type": "integer", "minimum": 0, "default": 0,
                   "help": "minimum number of ballots cast (abstentions included) for a decision"},
        "threshold": {"type": "string", "enum": ["simple", "two_thirds"], "default": "simple",
                      "help": "simple: yes > 1/2 of yes+no; two_thirds: yes >= 2/3 of yes+no"},
    },
    "plurality": {},
    "approval": {
        "max_approvals": {"type": "integer", "minimum": 1, "default": None,
                          "help": "most options one ballot may approve (no limit when absent)"},
    },
    "irv": {},
    "schulze": {},
    "borda": {},
    "score": {
        "min": {"type": "integer", "default": 0, "help": "lowest score a ballot may give"},
        "max": {"type": "integer", "default": 10, "help": "highest score a ballot may give"},
    },
    "satisfaction": {},
}


def check_params(method: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return ``params`` with defaults filled in, or raise :class:`ValueError`.

    Unknown parameter names are refused, so a typo (``"treshold"``) is not silently
    ignored.
    """
    spec = PARAMS[method]
    params = dict(params or {})
    unknown = sorted(set(params) - set(spec))
    if unknown:
        raise ValueError(f"unknown parameter(s) for {method}: {', '.join(unknown)}")
    out: dict[str, Any] = {}
    for name, desc in spec.items():
        value = params.get(name, desc["default"])
        if value is None and desc["default"] is None:
            out[name] = None
            continue
        if desc["type"] == "integer":
            if not _is_int(value):
                raise ValueError(f"parameter {name} must be an integer")
            if "minimum" in desc and value < desc["minimum"]:
                raise ValueError(f"parameter {name} must be at least {desc['minimum']}")
        elif desc["type"] == "string":
            if value not in desc["enum"]:
                raise ValueError(f"parameter {name} must be one of: {', '.join(desc['enum'])}")
        out[name] = value
    if method == "score" and out["min"] >= out["max"]:
        raise ValueError("parameter min must be below max")
    return out


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_options(options: Sequence[str]) -> list[str]:
    """Options must be distinct strings; returns them as a list."""
    options = list(options)
    if any(not isinstance(o, str) for o in options):
        raise ValueError("options must be strings")
    if len(set(options)) != len(options):
        raise ValueError("options must be distinct")
    return options


def check_counts(ballots: Sequence[Any], counts: Sequence[int] | None) -> Sequence[int] | None:
    """``counts`` is ``None`` (one each) or one non-negative integer per ballot."""
    if counts is None:
        return None
    if len(counts) != len(ballots):
        raise ValueError("counts must have one entry per ballot")
    if all(type(c) is int for c in counts) and (not counts or min(counts) >= 0):
        return counts
    for c in counts:
        if not _is_int(c) or c < 0:
            raise ValueError("counts must be non-negative integers")
    return counts


def weighted(ballots: Sequence[Any], counts: Sequence[int] | None) -> Iterable[tuple[Any, int]]:
    """Pairs ``(ballot, count)``; ballots with a zero count are skipped."""
    if counts is None:
        return ((b, 1) for b in ballots)
    return ((b, c) for b, c in zip(ballots, counts) if c)


def unwrap(ballot: Any, key: str) -> Any:
    """Accept the edge shape (``{"ranking": [...]}``) as well as the bare ballot."""
    if type(ballot) is dict and len(ballot) == 1 and key in ballot:
        return ballot[key]
    return ballot


class Lottery:
    """A deterministic lottery among options, seeded from the ballots themselves.

    The seed is the SHA-256 of a canonical JSON document holding the method key, the
    options (in order) and the *aggregated* ballots sorted canonically (each distinct
    ballot once, with its count). So anyone holding the published ballots can recompute
    it; it does not depend on the order ballots were cast or stored; and nobody can know
    it before the last ballot is in.

    Each option draws ``SHA-256(seed + "\\n" + option)``; the *lottery order* ranks the
    options by that draw, smallest first. Earlier in the lottery order is better: a tie
    for the win goes to the earliest, an elimination tie eliminates the latest.

    The seed is only computed when a tie actually has to be broken.
    """

    def __init__(self, method: str, options: Sequence[str],
                 canonical_ballots: Callable[[], Iterable[tuple[Any, int]]]) -> None:
        self.method = method
        self.options = list(options)
        self._canonical = canonical_ballots
        self._seed: str | None = None
        self.used = False

    @property
    def seed(self) -> str:
        if self._seed is None:
            rows = sorted(
                (json.dumps(b, ensure_ascii=False, sort_keys=True, separators=(",", ":")), int(c))
                for b, c in self._canonical() if c
            )
            merged: dict[str, int] = {}
            for b, c in rows:
                merged[b] = merged.get(b, 0) + c
            doc = {"method": self.method, "options": self.options,
                   "ballots": [[json.loads(b), c] for b, c in sorted(merged.items())]}
            text = json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
            self._seed = hashlib.sha256(text.encode("utf-8")).hexdigest()
        return self._seed

    def draw(self, option: str) -> str:
        return hashlib.sha256((self.seed + "\n" + option).encode("utf-8")).hexdigest()

    def order(self, candidates: Iterable[str]) -> list[str]:
        """``candidates`` in lottery order (best first)."""
        self.used = True
        return sorted(candidates, key=self.draw)

    def report(self) -> dict[str, Any]:
        """What a resident needs to check the lottery: the seed and the full order."""
        return {"rule": "lottery", "seed": self.seed, "order": self.order(self.options)}


def pick_winner(winners: list[str], lottery: Lottery) -> tuple[str | None, dict[str, Any] | None]:
    """One winner from the tied ``winners``: the only one, or the lottery's first.

    Returns ``(winner, tie_break)`` where ``tie_break`` describes the lottery when used.
    """
    if not winners:
        return None, None
    if len(winners) == 1:
        return winners[0], None
    chosen = lottery.order(winners)[0]
    return chosen, {"tied": list(winners), **lottery.report()}


def best(options: Sequence[str], value: Callable[[str], Any]) -> list[str]:
    """The options (in ``options`` order) whose ``value`` is maximal."""
    if not options:
        return []
    top = max(value(o) for o in options)
    return [o for o in options if value(o) == top]


def finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)

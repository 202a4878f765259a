"""Tally a JSON file of ballots from the command line.

The file::

    {"options": ["A", "B", "C"],
     "ballots": [["A", "B"], ["C"], ...],
     "counts": [3, 1, ...],          # optional: how many times each ballot was cast
     "params": {...}}                # optional: the method's parameters

Ballots are written in their bare form: a ranking is a list of options (``irv``,
``schulze``, ``borda``), ``plurality`` one option, ``approval`` a list, ``score`` and
``satisfaction`` an object ``{option: score}``, ``majority`` ``"yes"``, ``"no"`` or
``"abstain"``. Each is wrapped into the edge shape (``{"ranking": [...]}``...) and
checked by the same ballot schema the web forms use; identical ballots are checked once.

``courtyard tally --method KEY FILE.json`` calls :func:`load_file` and :func:`run`;
:func:`main` does the same with argparse (exit 0, JSON on stdout; exit 2 and the
message on stderr for bad input).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Mapping, Sequence

from marshmallow import ValidationError

from core.registry import TallyMethod

FILE_KEYS = ("options", "ballots", "counts", "params")


class TallyInputError(ValueError):
    """The file or a ballot in it is not valid; the message says where."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def load_file(path: str) -> dict[str, Any]:
    """Read and check the shape of a tally file (not the ballots: that needs the
    method, see :func:`run`). Raises :class:`TallyInputError`."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except OSError as exc:
        raise TallyInputError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise TallyInputError(f"{path}: the file is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise TallyInputError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except RecursionError:
        raise TallyInputError(f"{path}: the JSON is nested too deeply") from None
    return check_file(data)


def check_file(data: Any) -> dict[str, Any]:
    """Check the top-level structure of a tally document; return it normalised."""
    if not isinstance(data, dict):
        raise TallyInputError("the file must hold a JSON object with options and ballots")
    unknown = sorted(set(data) - set(FILE_KEYS))
    if unknown:
        raise TallyInputError(f"unknown key(s): {', '.join(unknown)} (expected {', '.join(FILE_KEYS)})")
    options = data.get("options")
    if not isinstance(options, list) or not options:
        raise TallyInputError("options: must be a non-empty list of option names")
    for i, option in enumerate(options):
        if not isinstance(option, str) or not option.strip():
            raise TallyInputError(f"options[{i}]: must be a non-empty string")
    if len(set(options)) != len(options):
        dup = next(o for o in options if options.count(o) > 1)
        raise TallyInputError(f"options: {dup!r} is listed more than once")
    ballots = data.get("ballots")
    if not isinstance(ballots, list):
        raise TallyInputError("ballots: must be a list")
    counts = data.get("counts")
    if counts is not None:
        if not isinstance(counts, list) or len(counts) != len(ballots):
            raise TallyInputError("counts: must be a list with one count per ballot")
        for i, c in enumerate(counts):
            if isinstance(c, bool) or not isinstance(c, int) or c < 0:
                raise TallyInputError(f"counts[{i}]: must be a non-negative integer")
    params = data.get("params", {})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise TallyInputError("params: must be an object")
    return {"options": options, "ballots": ballots, "counts": counts, "params": params}


def _methods(methods: Mapping[str, TallyMethod] | None) -> Mapping[str, TallyMethod]:
    if methods is not None:
        return methods
    from plugins.tally import METHODS

    return METHODS


def _first_message(messages: Any) -> tuple[str, str]:
    """``(field, message)`` from marshmallow's ``{field: [message, ...]}``."""
    if isinstance(messages, dict) and messages:
        field, value = next(iter(messages.items()))
        while isinstance(value, dict) and value:
            value = next(iter(value.values()))
        if isinstance(value, list) and value:
            value = value[0]
        return str(field), str(value)
    return "ballot", str(messages)


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return ("l", tuple(_hashable(v) for v in value))
    if isinstance(value, dict):
        return ("d", tuple(sorted((str(k), _hashable(v)) for k, v in value.items())))
    if isinstance(value, (str, int, float, bool)) or value is None:
        return (type(value).__name__, value)
    raise TypeError


def validate_ballots(method: TallyMethod, options: Sequence[str], ballots: Sequence[Any],
                     params: Mapping[str, Any]) -> list[Any]:
    """Every ballot through the method's schema, in its edge shape. Returns the
    normalised ballots; raises :class:`TallyInputError` naming the first bad ballot."""
    if method.make_ballot_schema is None:
        return list(ballots)
    from plugins.tally.schemas import BALLOT_FIELD

    try:
        schema = method.make_ballot_schema(options, params)
    except ValueError as exc:
        raise TallyInputError(f"params: {exc}") from None
    field = BALLOT_FIELD.get(method.key) or _field_for_kind(method.ballot_kind)
    seen: dict[Any, Any] = {}
    out: list[Any] = []
    for index, ballot in enumerate(ballots):
        try:
            key = _hashable(ballot)
        except TypeError:
            key = None
        if key is not None and key in seen:
            out.append(seen[key])
            continue
        try:
            loaded = schema.load({field: ballot})
        except ValidationError as exc:
            name, message = _first_message(exc.messages)
            raise TallyInputError(f"ballots[{index}]: {name}: {message}") from None
        if key is not None:
            seen[key] = loaded
        out.append(loaded)
    return out


def _field_for_kind(kind: str) -> str:
    return {"yesno": "choice", "choice": "choice", "approval": "approvals",
            "ranking": "ranking", "scores": "scores"}.get(kind, "choice")


def run(method_key: str, data: Mapping[str, Any],
        methods: Mapping[str, TallyMethod] | None = None) -> dict[str, Any]:
    """Validate ``data`` (the parsed file) for ``method_key`` and tally it.

    :param methods: the methods to choose from (defaults to the built-ins; the app
        passes the methods its plugin manager collected).
    :returns: the method's result dict.
    :raises TallyInputError: unknown method, bad file structure, bad parameter or bad
        ballot (the message names ``ballots[k]`` and the field).
    """
    available = _methods(methods)
    if method_key not in available:
        raise TallyInputError(
            f"unknown method {method_key!r} (choose from: {', '.join(sorted(available))})"
        )
    method = available[method_key]
    doc = check_file(dict(data) if isinstance(data, Mapping) else data)
    ballots = validate_ballots(method, doc["options"], doc["ballots"], doc["params"])
    try:
        return method.tally(doc["options"], ballots, doc["counts"], doc["params"])
    except ValueError as exc:
        raise TallyInputError(str(exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m plugins.tally.cli --method irv ballots.json``: print the result as
    JSON; on bad input print the message to stderr and return 2."""
    from plugins.tally import METHODS

    parser = argparse.ArgumentParser(prog="courtyard tally",
                                     description="Tally a JSON file of ballots.")
    parser.add_argument("--method", required=True, help=f"one of: {', '.join(METHODS)}")
    parser.add_argument("file", help="JSON file with options, ballots, counts?, params?")
    args = parser.parse_args(argv)
    try:
        result = run(args.method, load_file(args.file))
    except TallyInputError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    text = json.dumps(result, ensure_ascii=False, indent=2)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\ud800") from the file: keep it escaped
        text = json.dumps(result, indent=2)
    print(text)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

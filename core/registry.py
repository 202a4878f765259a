"""The kinds of things plugins contribute, as plain frozen dataclasses.

A plugin builds these and hands them to the ``register`` callback of a
``courtyard_register_*`` hook. They hold no database state, so the same plugin
serves every community; which communities see a contribution is decided by the
per-community plugin settings (:mod:`core.services.plugins`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence


def pick_name(names: Mapping[str, str], locale: str) -> str:
    """The label for ``locale`` (``zh_CN`` / ``en``), falling back to English, then any."""
    if locale in names:
        return names[locale]
    base = locale.split("_")[0]
    for key, value in names.items():
        if key.split("_")[0] == base:
            return value
    return names.get("en") or next(iter(names.values()), "")


@dataclass(frozen=True)
class SessionFormat:
    """A kind of consultation session (courtyard tea talk, golden microphone forum...)."""

    key: str
    names: Mapping[str, str]
    descriptions: Mapping[str, str] = field(default_factory=dict)
    #: suggested number of seats when a host does not say
    default_capacity: int | None = None
    #: held in a resident's home, the host rotating from home to home
    rotating_host: bool = False
    #: departments sit at the table and are given the floor to answer issues
    departments_at_table: bool = False
    #: formal votes with a quorum among a defined electorate
    formal_votes: bool = False
    #: a periodic follow-up of open and rated issues
    review: bool = False

    def name(self, locale: str) -> str:
        return pick_name(self.names, locale)

    def description(self, locale: str) -> str:
        return pick_name(self.descriptions, locale) if self.descriptions else ""


@dataclass(frozen=True)
class Category:
    """A topic category (议题分类): livelihood, finance, healthcare...

    ``color`` is a CSS colour for chips and charts.
    """

    key: str
    names: Mapping[str, str]
    color: str = "#6b7280"

    def name(self, locale: str) -> str:
        return pick_name(self.names, locale)


#: ``tally(options, ballots, counts, params) -> result``: ``result`` is a JSON-able
#: dict with at least ``winners`` (every tied winner, a list of option names).
TallyFunction = Callable[[Sequence[str], Sequence[Any], Sequence[int] | None, Mapping[str, Any]], dict]


@dataclass(frozen=True)
class TallyMethod:
    """A way of counting ballots. ``tally`` is a pure function.

    ``ballot_kind`` tells the ballot form which widget to show: ``"yesno"``,
    ``"choice"`` (one option), ``"approval"`` (several), ``"ranking"`` or ``"scores"``.
    ``make_ballot_schema(options, params)`` returns an object with a
    ``load(data)`` method (a marshmallow schema in the built-ins) that returns the
    normalised ballot or raises a validation error naming the field; the edge calls
    it before anything is stored.
    """

    key: str
    names: Mapping[str, str]
    ballot_kind: str
    tally: TallyFunction
    make_ballot_schema: Callable[[Sequence[str], Mapping[str, Any]], Any] | None = None
    #: parameters the method understands (e.g. quorum, threshold, max_approvals)
    params: Mapping[str, Any] = field(default_factory=dict)

    def name(self, locale: str) -> str:
        return pick_name(self.names, locale)


@dataclass(frozen=True)
class NavLink:
    """A link on a community's page to what a plugin offers (its issues list, the
    courtyard rota, a points ledger). ``endpoint`` is a Flask endpoint that takes the
    community's ``slug``; the link shows only where the plugin is enabled. With
    ``scope="session"`` the link is on each session's page instead, and the endpoint is
    also given the session's id as ``session_id`` (the votes of this session)."""

    key: str
    names: Mapping[str, str]
    endpoint: str
    #: lower comes first
    order: int = 100
    #: "community" (the community's page) or "session" (each session's page)
    scope: str = "community"

    def name(self, locale: str) -> str:
        return pick_name(self.names, locale)

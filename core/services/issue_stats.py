"""Dashboard figures for residents' issues, as pure functions over plain facts.

Nothing here touches the database or Flask: :func:`facts_from_issues` turns model rows
into :class:`IssueFacts`, and :func:`group_figures` computes, per group (category, place
or department):

* ``counts`` — issues by status (merged duplicates are left out of every figure);
* ``median_hours_to_first_reply`` — over issues that got a reply, from raising to the
  first reply; ``None`` when none did;
* ``median_hours_to_resolution`` — over issues ever marked resolved, from raising to the
  latest resolution;
* ``overdue_share`` — of the issues that were given a due date, the share that is
  overdue now (still unresolved past the due date) or was resolved after it;
* ``average_satisfaction`` — the mean of every rating in each issue's current rating
  round (rating-weighted, so an issue rated by ten residents weighs ten times one rated
  by one); ``ratings`` says how many.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Iterable, Sequence

#: statuses in which the department still owes a result: past the due date, it is overdue
OVERDUE_STATUSES = frozenset({"assigned", "replied"})
#: the order statuses are shown in
STATUS_ORDER = ("open", "accepted", "scheduled", "assigned", "replied", "resolved", "reopened", "closed",
                "rejected")


@dataclass(frozen=True)
class IssueFacts:
    id: int
    status: str
    category: str
    place: str
    department: str | None
    raised_at: datetime
    first_reply_at: datetime | None = None
    resolved_at: datetime | None = None
    due_at: datetime | None = None
    #: the scores of the current rating round
    ratings: tuple[int, ...] = field(default_factory=tuple)


@dataclass
class GroupFigures:
    key: str
    total: int
    counts: dict[str, int]
    median_hours_to_first_reply: float | None
    median_hours_to_resolution: float | None
    overdue: int
    with_due_date: int
    overdue_share: float | None
    ratings: int
    average_satisfaction: float | None


def hours(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 3600.0


def median_or_none(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def is_overdue(f: IssueFacts, now: datetime) -> bool:
    """Overdue now, or resolved after its due date."""
    if f.due_at is None:
        return False
    if f.status in OVERDUE_STATUSES and now > f.due_at:
        return True
    return f.resolved_at is not None and f.resolved_at > f.due_at


def figures(key: str, items: Sequence[IssueFacts], now: datetime) -> GroupFigures:
    items = [f for f in items if f.status != "merged"]
    counts = {status: 0 for status in STATUS_ORDER}
    for f in items:
        counts[f.status] = counts.get(f.status, 0) + 1
    replies = [hours(f.raised_at, f.first_reply_at) for f in items if f.first_reply_at is not None]
    resolutions = [hours(f.raised_at, f.resolved_at) for f in items if f.resolved_at is not None]
    dated = [f for f in items if f.due_at is not None]
    overdue = sum(1 for f in dated if is_overdue(f, now))
    scores = [s for f in items for s in f.ratings]
    return GroupFigures(
        key=key,
        total=len(items),
        counts=counts,
        median_hours_to_first_reply=median_or_none(replies),
        median_hours_to_resolution=median_or_none(resolutions),
        overdue=overdue,
        with_due_date=len(dated),
        overdue_share=(overdue / len(dated)) if dated else None,
        ratings=len(scores),
        average_satisfaction=(sum(scores) / len(scores)) if scores else None,
    )


def group_figures(items: Iterable[IssueFacts], by: Callable[[IssueFacts], str | None], now: datetime,
                  *, none_label: str = "-") -> list[GroupFigures]:
    """Figures per group, largest group first (then by name)."""
    groups: dict[str, list[IssueFacts]] = {}
    for f in items:
        groups.setdefault(by(f) or none_label, []).append(f)
    out = [figures(key, members, now) for key, members in groups.items()]
    out = [g for g in out if g.total]
    out.sort(key=lambda g: (-g.total, g.key))
    return out


BY = {
    "category": lambda f: f.category,
    "place": lambda f: f.place,
    "department": lambda f: f.department,
}


def facts_from_issues(issues: Iterable, *, category_label: Callable[[str], str] = lambda k: k) -> list[IssueFacts]:
    """Model rows (:class:`core.models.Issue`, ratings loaded) → :class:`IssueFacts`."""
    out = []
    for issue in issues:
        ratings = tuple(r.score for r in issue.ratings if r.round == issue.rating_round)
        out.append(IssueFacts(
            id=issue.id, status=issue.status, category=category_label(issue.category_key),
            place=issue.place.name if issue.place is not None else "-", department=issue.assignee_name(),
            raised_at=issue.created_at, first_reply_at=issue.first_reply_at, resolved_at=issue.resolved_at,
            due_at=issue.due_at, ratings=ratings,
        ))
    return out

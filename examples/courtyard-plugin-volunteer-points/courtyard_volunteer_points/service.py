"""Points: awarding, the balance, the exchange, the monthly service day.

Functions take the database session explicitly and ``flush()``; the caller commits
(Courtyard's house style). No Flask here: the rules are testable on their own.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Mapping

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.db import utcnow
from core.errors import Conflict, Forbidden, Invalid
from core.i18n import N_
from core.models import Member
from core.models.member import Role
from core.services.access import has_role
from courtyard_volunteer_points.models import Balance, LedgerEntry, ServiceDaySignup

#: points per kind of participation
RULES: dict[str, int] = {
    "attended": 2,        # took part in a session (its attendance record)
    "hosted": 5,          # hosted a courtyard talk (院长) or another session
    "issue_resolved": 3,  # an issue the resident raised was resolved
    "service_day": 4,     # turned up on the monthly service day
}

#: the monthly service day (服务日), from the source practice: the 28th
SERVICE_DAY = 28

STAFF = {Role.ADMIN, Role.MODERATOR}


@dataclass(frozen=True)
class Item:
    key: str
    cost: int
    names: Mapping[str, str]

    def name(self, locale: str) -> str:
        return self.names.get(locale) or self.names["en"]


CATALOGUE: tuple[Item, ...] = (
    Item("haircut", 10, {"zh_CN": "免费理发一次", "en": "A free haircut"}),
    Item("repair", 15, {"zh_CN": "小家电维修一次", "en": "A small appliance repair"}),
    Item("groceries", 20, {"zh_CN": "米面油一份", "en": "A bag of rice, flour and oil"}),
)


def item(key: str) -> Item:
    for it in CATALOGUE:
        if it.key == key:
            return it
    raise Invalid(N_("No such item."), field="item")


def award(db: Session, *, community_id: int, member_id: int, reason: str, source_kind: str, source_id: Any,
          points: int | None = None, now: datetime | None = None) -> bool:
    """Award points once per ``(member, source_kind, source_id)``. Returns ``False`` when
    that event was already counted."""
    points = RULES[reason] if points is None else points
    try:
        with db.begin_nested():
            db.add(LedgerEntry(community_id=community_id, member_id=member_id, points=points, reason=reason,
                               source_kind=source_kind, source_id=str(source_id), at=now or utcnow()))
            db.flush()
            _credit(db, community_id=community_id, member_id=member_id, points=points)
    except IntegrityError:
        return False
    return True


def _credit(db: Session, *, community_id: int, member_id: int, points: int) -> None:
    done = db.execute(update(Balance).where(Balance.member_id == member_id)
                      .values(points=Balance.points + points)).rowcount
    if done:
        return
    try:
        with db.begin_nested():
            db.add(Balance(member_id=member_id, community_id=community_id, points=points))
            db.flush()
    except IntegrityError:  # created by a concurrent award: add to it
        db.execute(update(Balance).where(Balance.member_id == member_id).values(points=Balance.points + points))


def balance(db: Session, member_id: int) -> int:
    return db.scalar(select(Balance.points).where(Balance.member_id == member_id)) or 0


def ledger(db: Session, member_id: int, limit: int = 50) -> list[LedgerEntry]:
    return list(db.scalars(select(LedgerEntry).where(LedgerEntry.member_id == member_id)
                           .order_by(LedgerEntry.at.desc(), LedgerEntry.id.desc()).limit(limit)))


def leaderboard(db: Session, community_id: int, limit: int = 10) -> list[tuple[str, int]]:
    """Members by points earned (exchanging does not lower anyone's rank)."""
    earned = func.sum(LedgerEntry.points).label("earned")
    rows = db.execute(
        select(Member.display_name, earned).join(Member, Member.id == LedgerEntry.member_id)
        .where(LedgerEntry.community_id == community_id, LedgerEntry.points > 0)
        .group_by(Member.id, Member.display_name).order_by(earned.desc(), Member.display_name).limit(limit))
    return [(name, int(total)) for name, total in rows]


def exchange(db: Session, *, member: Member, item_key: str, request_id: str,
             now: datetime | None = None) -> LedgerEntry:
    """Spend points on a catalogue item. The check and the debit are one conditional
    ``UPDATE`` (``points >= cost``), so two exchanges racing can never overspend; the
    same ``request_id`` sent twice (a double tap) spends once."""
    chosen = item(item_key)
    if not request_id or len(request_id) > 64:
        raise Invalid(N_("Please try again."), field="request_id")
    existing = db.scalar(select(LedgerEntry).where(LedgerEntry.member_id == member.id,
                                                   LedgerEntry.source_kind == "exchange",
                                                   LedgerEntry.source_id == request_id))
    if existing is not None:
        return existing
    try:
        with db.begin_nested():
            debited = db.execute(update(Balance).where(Balance.member_id == member.id, Balance.points >= chosen.cost)
                                 .values(points=Balance.points - chosen.cost)).rowcount
            if not debited:
                raise Conflict(N_("Not enough points for this item."), field="item")
            entry = LedgerEntry(community_id=member.community_id, member_id=member.id, points=-chosen.cost,
                                reason="exchange", source_kind="exchange", source_id=request_id, item=chosen.key,
                                at=now or utcnow())
            db.add(entry)
            db.flush()
    except IntegrityError:  # the same request raced itself: the first one counts
        return db.scalar(select(LedgerEntry).where(LedgerEntry.member_id == member.id,
                                                   LedgerEntry.source_kind == "exchange",
                                                   LedgerEntry.source_id == request_id))
    return entry


def next_service_day(today: date) -> date:
    """The 28th of this month, or of the next month once it has passed."""
    if today.day <= SERVICE_DAY:
        return today.replace(day=min(SERVICE_DAY, calendar.monthrange(today.year, today.month)[1]))
    year, month = (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
    return date(year, month, SERVICE_DAY)


def sign_up(db: Session, *, member: Member, day: date, today: date) -> ServiceDaySignup:
    if day.day != SERVICE_DAY or day < today:
        raise Invalid(N_("Sign up for a coming service day (the 28th)."), field="day")
    found = db.scalar(select(ServiceDaySignup).where(ServiceDaySignup.member_id == member.id,
                                                     ServiceDaySignup.day == day))
    if found is not None:
        return found
    row = ServiceDaySignup(community_id=member.community_id, member_id=member.id, day=day)
    try:
        with db.begin_nested():
            db.add(row)
            db.flush()
    except IntegrityError:
        return db.scalar(select(ServiceDaySignup).where(ServiceDaySignup.member_id == member.id,
                                                        ServiceDaySignup.day == day))
    return row


def signups(db: Session, community_id: int, day: date) -> list[ServiceDaySignup]:
    return list(db.scalars(select(ServiceDaySignup).where(ServiceDaySignup.community_id == community_id,
                                                          ServiceDaySignup.day == day)
                           .order_by(ServiceDaySignup.id)))


def confirm_service_day(db: Session, *, actor: Member, day: date, today: date) -> int:
    """Staff confirm the service day took place: everyone signed up earns its points
    (once). Returns how many were newly awarded."""
    if not has_role(db, actor, STAFF, community_id=actor.community_id):
        raise Forbidden(N_("Only staff can confirm a service day."))
    if day.day != SERVICE_DAY or day > today:
        raise Invalid(N_("Confirm a service day that has come."), field="day")
    return sum(award(db, community_id=actor.community_id, member_id=s.member_id, reason="service_day",
                     source_kind="service_day", source_id=day.isoformat())
               for s in signups(db, actor.community_id, day))

"""Residents' issues (民情 / 诉求): the golden microphone loop.

raise → triage (accept / reject with a reason / schedule for a forum session) → assign to a
department (职能部门) with a due date → the department replies → resolved → residents rate
→ closed, or reopened when they rate it badly. Overdue issues escalate up the place
hierarchy (grid → community → street). Every step is an :class:`IssueEvent` on the
timeline and notifies the residents who follow the issue.

Rights (documented in ``docs/issues.md``):

* any member of the community sees its issues — except a member whose only role is
  ``department``, who sees the issues assigned to them;
* any member raises an issue for a place of their community; staff and the head of a
  resident's grid, building or unit raise one on behalf of that resident;
* the raiser (or the resident it was raised for) edits it while it is still ``open``;
  staff edit it until it is closed;
* members whose home place lies on the issue's branch of the place tree support it
  ("me too") and, once it is resolved, rate it; its supporters may always rate it;
* staff and the grid head over the issue's place triage; staff alone assign and merge;
* the assigned department member replies (staff record the reply of an outside body);
  staff or the assigned department mark it resolved; staff close or reopen it.

Every function takes the database session and the acting member explicitly and only
flushes; the caller commits. Validation happens before anything is added.
"""

from __future__ import annotations

import hashlib
import math
import struct
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable, Sequence

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from core import events
from core.db import lock_row, utcnow
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.i18n import N_
from core.models import AgendaItem, Community, ConsultationSession, Member, Place, RoleAssignment
from core.models.issue import (
    Issue,
    IssueEvent,
    IssuePhoto,
    IssueRating,
    IssueStatus,
    IssueSupport,
    OutsideBody,
)
from core.models.member import PLACE_HEAD_ROLES, STAFF_ROLES, Role
from core.models.session import SessionStatus
from core.services import categories as categories_service
from core.services.access import has_role, is_staff, require_member
from core.services.notifications import notify

TITLE_MAX = 120
DESCRIPTION_MAX = 4000
REASON_MAX = 500
REPLY_MAX = 4000
COMMENT_MAX = 500
OUTSIDE_NAME_MAX = 120
MAX_PHOTOS = 4
MAX_PHOTO_BYTES = 5 * 1024 * 1024
MAX_PHOTO_SIDE = 20000
MAX_PHOTO_PIXELS = 60_000_000
#: a due date must be between one hour and 180 days ahead
MIN_DUE = timedelta(hours=1)
MAX_DUE = timedelta(days=180)
#: the reopening rule: once at least MIN_RATINGS ratings are in for the current round
#: and their average is below REOPEN_BELOW, the issue is reopened
MIN_RATINGS = 3
REOPEN_BELOW = 3.0
#: the place kinds an overdue issue climbs through, bottom-up
ESCALATION_KINDS = ("grid", "community", "street")
#: an overdue period is the time the department was given, but at least this
MIN_OVERDUE_PERIOD = timedelta(days=1)
REVIEW_PERIODS = {"monthly": timedelta(days=30), "quarterly": timedelta(days=91)}

S = IssueStatus
OVERDUE_STATUSES = frozenset({S.ASSIGNED.value, S.REPLIED.value})
TRIAGE_FROM = frozenset({S.OPEN.value, S.ACCEPTED.value, S.SCHEDULED.value})
ASSIGN_FROM = frozenset({S.OPEN.value, S.ACCEPTED.value, S.SCHEDULED.value, S.ASSIGNED.value, S.REPLIED.value,
                         S.REOPENED.value})
REPLY_FROM = frozenset({S.ASSIGNED.value, S.REPLIED.value, S.REOPENED.value})
RESOLVE_FROM = frozenset({S.ACCEPTED.value, S.SCHEDULED.value, S.ASSIGNED.value, S.REPLIED.value,
                          S.REOPENED.value})
MERGE_FROM = frozenset({S.OPEN.value, S.ACCEPTED.value, S.SCHEDULED.value, S.ASSIGNED.value, S.REPLIED.value,
                        S.REOPENED.value})
CLOSED_STATES = frozenset({S.CLOSED.value, S.MERGED.value})
#: statuses counted as "open" on a review meeting's agenda
UNFINISHED = frozenset({S.OPEN.value, S.ACCEPTED.value, S.SCHEDULED.value, S.ASSIGNED.value, S.REPLIED.value,
                        S.REOPENED.value})

#: the message ids notifications carry (translated when shown)
MESSAGES = {
    "accepted": N_("Your issue \"%(title)s\" was accepted."),
    "rejected": N_("Your issue \"%(title)s\" was not taken up: %(reason)s"),
    "scheduled": N_("The issue \"%(title)s\" is on the agenda of \"%(session)s\"."),
    "assigned": N_("The issue \"%(title)s\" was assigned to %(department)s, due %(due)s."),
    "assigned_to_you": N_("The issue \"%(title)s\" was assigned to you; please reply by %(due)s."),
    "replied": N_("%(department)s replied to \"%(title)s\"."),
    "resolved": N_("\"%(title)s\" was marked resolved. Please rate how well it was done."),
    "reopened": N_("\"%(title)s\" was reopened."),
    "closed": N_("\"%(title)s\" was closed."),
    "merged": N_("\"%(title)s\" was merged into \"%(target)s\"; follow it there."),
    "escalated": N_("\"%(title)s\" is overdue and was escalated to %(place)s."),
}


# ---------------------------------------------------------------------------
# Photos: checked by their bytes, never by their name or declared type
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageInfo:
    content_type: str
    width: int
    height: int


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    n = len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        if marker == 0xD9:
            return None
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        if length < 2:
            return None
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            if i + 9 > n:
                return None
            height, width = struct.unpack(">HH", data[i + 5:i + 9])
            return width, height
        i += 2 + length
    return None


def inspect_image(data: bytes) -> ImageInfo:
    """The type and dimensions of a JPEG, PNG, WebP or GIF, read from its header; anything
    else (a text file named ``.jpg``, a truncated file) is :class:`Invalid` on ``photos``."""
    size: tuple[int, int] | None = None
    kind = None
    if data[:3] == b"\xff\xd8\xff":
        kind, size = "image/jpeg", _jpeg_size(data)
    elif data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and len(data) >= 24:
        kind, size = "image/png", struct.unpack(">II", data[16:24])
    elif data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        kind, size = "image/gif", struct.unpack("<HH", data[6:10])
    elif data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        kind = "image/webp"
        chunk = data[12:16]
        if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
            w, h = struct.unpack("<HH", data[26:30])
            size = (w & 0x3FFF, h & 0x3FFF)
        elif chunk == b"VP8L" and data[20] == 0x2F:
            b0, b1, b2, b3 = data[21:25]
            size = (1 + (((b1 & 0x3F) << 8) | b0), 1 + (((b3 & 0x0F) << 10) | (b2 << 2) | ((b1 & 0xC0) >> 6)))
        elif chunk == b"VP8X":
            size = (1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little"))
    if kind is None:
        raise Invalid(N_("Photos must be JPEG, PNG, WebP or GIF images."), field="photos")
    if size is None:
        raise Invalid(N_("This photo is damaged or incomplete."), field="photos")
    width, height = size
    if not (0 < width <= MAX_PHOTO_SIDE and 0 < height <= MAX_PHOTO_SIDE) or width * height > MAX_PHOTO_PIXELS:
        raise Invalid(N_("This photo's dimensions are not plausible."), field="photos")
    return ImageInfo(kind, width, height)


def check_photos(photos: Sequence[bytes]) -> list[ImageInfo]:
    if len(photos) > MAX_PHOTOS:
        raise Invalid(N_("At most %(count)s photos."), field="photos", count=MAX_PHOTOS)
    out = []
    for data in photos:
        if len(data) > MAX_PHOTO_BYTES:
            raise Invalid(N_("Each photo may be at most %(mb)s MB."), field="photos", mb=MAX_PHOTO_BYTES // 2**20)
        if not data:
            raise Invalid(N_("This photo is empty."), field="photos")
        out.append(inspect_image(data))
    return out


# ---------------------------------------------------------------------------
# Rights
# ---------------------------------------------------------------------------


def department_only(member: Member | None) -> bool:
    """A member whose only role is ``department`` (a bureau's account)."""
    return member is not None and member.role_names() == {Role.DEPARTMENT.value}


def is_department(member: Member | None) -> bool:
    return member is not None and Role.DEPARTMENT.value in member.role_names()


def can_view(db: Session, actor: Member | None, issue: Issue) -> bool:
    if actor is None or not actor.active or actor.community_id != issue.community_id:
        return False
    if department_only(actor):
        return issue.assigned_member_id == actor.id
    return True


def can_triage(db: Session, actor: Member | None, issue: Issue) -> bool:
    return has_role(db, actor, STAFF_ROLES | {Role.GRID_HEAD}, community_id=issue.community_id, place=issue.place)


def can_edit(db: Session, actor: Member | None, issue: Issue) -> bool:
    if actor is None or actor.community_id != issue.community_id:
        return False
    if is_staff(db, actor, issue.community_id):
        return issue.status not in CLOSED_STATES
    return issue.status == S.OPEN.value and actor.id in (issue.raised_by_id, issue.on_behalf_of_id)


def _home_place(db: Session, member: Member) -> Place | None:
    return db.get(Place, member.place_id) if member.place_id else None


def on_branch(home: Place | None, place: Place) -> bool:
    """Whether a home place and an issue's place lie on one branch of the place tree (one
    contains the other): a unit's residents follow their building's, grid's and road's issues."""
    if home is None:
        return False
    return home.path.startswith(place.path) or place.path.startswith(home.path)


def can_support(db: Session, actor: Member | None, issue: Issue) -> bool:
    if actor is None or actor.community_id != issue.community_id or department_only(actor):
        return False
    return on_branch(_home_place(db, actor), issue.place)


def can_rate(db: Session, actor: Member | None, issue: Issue) -> bool:
    if actor is None or actor.community_id != issue.community_id or department_only(actor):
        return False
    if any(s.member_id == actor.id for s in issue.supports):
        return True
    home = _home_place(db, actor)
    return home is not None and home.path.startswith(issue.place.path)


def can_reply(db: Session, actor: Member | None, issue: Issue) -> bool:
    if actor is None or actor.community_id != issue.community_id:
        return False
    if issue.assigned_member_id is not None and issue.assigned_member_id == actor.id:
        return True
    return is_staff(db, actor, issue.community_id)


def can_resolve(db: Session, actor: Member | None, issue: Issue) -> bool:
    return can_reply(db, actor, issue)


def _require(ok: bool, message: str | None = None) -> None:
    if not ok:
        raise Forbidden(message or N_("You are not allowed to do this."))


# ---------------------------------------------------------------------------
# Helpers: events, notifications, status
# ---------------------------------------------------------------------------


def _now(now: datetime | None) -> datetime:
    return now or utcnow()


def _event(db: Session, issue: Issue, kind: str, actor: Member | None, now: datetime, **data: Any) -> IssueEvent:
    ev = IssueEvent(issue_id=issue.id, kind=kind, actor_id=actor.id if actor else None, at=now, data=data)
    db.add(ev)
    return ev


def issue_link(db: Session, issue: Issue) -> str:
    community = db.get(Community, issue.community_id)
    return f"/c/{community.slug}/issues/{issue.id}"


def followers(db: Session, issue: Issue) -> list[Member]:
    """The residents who raised or supported the issue, and its department."""
    ids = {issue.raised_by_id, issue.on_behalf_of_id, issue.assigned_member_id}
    ids |= {s.member_id for s in issue.supports}
    ids.discard(None)
    if not ids:
        return []
    return list(db.scalars(select(Member).where(Member.id.in_(ids), Member.active.is_(True))))


def _tell(db: Session, issue: Issue, recipients: Iterable[Member], kind: str, now: datetime,
          exclude: Member | None = None, **params: Any) -> None:
    people = [m for m in recipients if exclude is None or m.id != exclude.id]
    if people:
        notify(db, recipients=people, kind=f"issue_{kind}", message=MESSAGES[kind],
               params={"title": issue.title, "issue_id": issue.id, **params}, link=issue_link(db, issue), now=now)


def _hold(db: Session, *issues: Issue) -> None:
    """Lock the issue rows (in id order) and read them again before their status is
    checked: two staff acting on one issue at once take turns, and the second sees what the
    first did (accepted and rejected at once, assigned twice, rated past the reopening
    threshold by two residents who each saw too few ratings)."""
    for issue in sorted(issues, key=lambda i: i.id):
        lock_row(db, Issue, issue.id)


def _set_status(db: Session, issue: Issue, new: str, actor: Member | None, now: datetime) -> str:
    old = issue.status
    issue.status = new
    issue.updated_at = now
    if old != new:
        events.queue(db, "courtyard_issue_status_changed", community_id=issue.community_id, issue=issue,
                     old_status=old, new_status=new, actor=actor)
    return old


def _text(value: str | None, field: str, limit: int, *, required: bool = False) -> str:
    value = (value or "").strip()
    if required and not value:
        raise Invalid(N_("This field is required."), field=field)
    if len(value) > limit:
        raise Invalid(N_("At most %(max)s characters."), field=field, max=limit)
    return value


def _place(db: Session, community_id: int, place_id: Any, field: str = "place_id") -> Place:
    place = db.get(Place, place_id) if isinstance(place_id, int) else None
    if place is None or place.community_id != community_id:
        raise NotFound(N_("Unknown place."), field=field)
    return place


# ---------------------------------------------------------------------------
# Raising, editing, supporting
# ---------------------------------------------------------------------------


def raise_issue(db: Session, *, actor: Member, catalog: Any, community: Community, title: str, description: str,
                category_key: str, place_id: int, on_behalf_of_id: int | None = None,
                photos: Sequence[bytes] = (), now: datetime | None = None) -> Issue:
    """Raise an issue. A grid head (or staff) raises it for a resident with ``on_behalf_of_id``."""
    now = _now(now)
    require_member(actor, community.id)
    title = _text(title, "title", TITLE_MAX, required=True)
    description = _text(description, "description", DESCRIPTION_MAX)
    categories_service.require_category(db, catalog, community, category_key)
    place = _place(db, community.id, place_id)
    resident = None
    if on_behalf_of_id is not None:
        resident = db.get(Member, on_behalf_of_id) if isinstance(on_behalf_of_id, int) else None
        if resident is None or resident.community_id != community.id:
            raise NotFound(N_("No such record in this community."), field="on_behalf_of_id")
        from core.services.access import can_look_after

        if resident.id != actor.id and not can_look_after(db, actor, resident):
            raise Forbidden(N_("Only staff or the head of this resident's grid, building or unit can do this."))
        if resident.id == actor.id:
            resident = None
    infos = check_photos(photos)
    issue = Issue(community_id=community.id, place_id=place.id, category_key=category_key, title=title,
                  description=description, status=S.OPEN.value, raised_by_id=actor.id,
                  on_behalf_of_id=resident.id if resident else None, created_at=now, updated_at=now)
    db.add(issue)
    db.flush()
    for data, info in zip(photos, infos):
        db.add(IssuePhoto(issue_id=issue.id, content_type=info.content_type, width=info.width, height=info.height,
                          size=len(data), sha256=hashlib.sha256(data).hexdigest(), data=data, created_at=now))
    # the resident concerned counts as the first "me too"
    db.add(IssueSupport(issue_id=issue.id, member_id=(resident or actor).id, created_at=now))
    _event(db, issue, "raised", actor, now, on_behalf_of=resident.display_name if resident else None)
    db.flush()
    events.queue(db, "courtyard_issue_status_changed", community_id=community.id, issue=issue, old_status=None,
                 new_status=S.OPEN.value, actor=actor)
    return issue


EDITABLE = ("title", "description", "category_key", "place_id")


def update_issue(db: Session, *, actor: Member, catalog: Any, issue: Issue, changes: dict[str, Any],
                 now: datetime | None = None) -> Issue:
    """The raiser edits their issue before triage; staff until it is closed."""
    now = _now(now)
    _require(can_view(db, actor, issue))
    _require(can_edit(db, actor, issue), N_("An issue can be changed by the resident who raised it only until it "
                                            "is taken up."))
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise Invalid(N_("This field cannot be changed."), field=sorted(unknown)[0])
    clean: dict[str, Any] = {}
    if "title" in changes:
        clean["title"] = _text(changes["title"], "title", TITLE_MAX, required=True)
    if "description" in changes:
        clean["description"] = _text(changes["description"], "description", DESCRIPTION_MAX)
    community = db.get(Community, issue.community_id)
    if "category_key" in changes:
        categories_service.require_category(db, catalog, community, changes["category_key"])
        clean["category_key"] = changes["category_key"]
    if "place_id" in changes:
        clean["place_id"] = _place(db, community.id, changes["place_id"]).id
    changed = {k: v for k, v in clean.items() if getattr(issue, k) != v}
    for key, value in changed.items():
        setattr(issue, key, value)
    if changed:
        issue.updated_at = now
        _event(db, issue, "edited", actor, now, fields=sorted(changed))
    db.flush()
    if "place_id" in changed:
        db.refresh(issue)
    return issue


def support(db: Session, *, actor: Member, issue: Issue, now: datetime | None = None) -> IssueSupport:
    """ "Me too": one per member and issue (a second one is a Conflict)."""
    now = _now(now)
    _require(can_view(db, actor, issue))
    _require(can_support(db, actor, issue), N_("Only residents of this place can support this issue."))
    if issue.status in CLOSED_STATES or issue.status == S.REJECTED.value:
        raise Conflict(N_("This issue is no longer open for support."), field="status")
    row = IssueSupport(issue_id=issue.id, member_id=actor.id, created_at=now)
    try:
        with db.begin_nested():
            db.add(row)
            db.flush()
    except IntegrityError as exc:
        raise Conflict(N_("You already support this issue."), field="support") from exc
    _event(db, issue, "supported", actor, now)
    db.flush()
    db.refresh(issue)
    return row


# ---------------------------------------------------------------------------
# Triage, assignment, replies, resolution
# ---------------------------------------------------------------------------


def triage(db: Session, *, actor: Member, catalog: Any, issue: Issue, decision: str, reason: str = "",
           session_id: int | None = None, now: datetime | None = None) -> Issue:
    """Accept, reject (with a reason the resident sees) or schedule for a forum session."""
    now = _now(now)
    _require(can_view(db, actor, issue) and can_triage(db, actor, issue),
             N_("Only staff or the grid head of this place can triage issues."))
    if decision not in ("accept", "reject", "schedule"):
        raise Invalid(N_("Must be one of: %(choices)s."), field="decision", choices="accept, reject, schedule")
    _hold(db, issue)
    if issue.status not in TRIAGE_FROM:
        raise Conflict(N_("This issue has already been taken further."), field="status")
    reason = _text(reason, "reason", REASON_MAX, required=(decision == "reject"))
    if decision == "accept":
        _set_status(db, issue, S.ACCEPTED.value, actor, now)
        _event(db, issue, "accepted", actor, now, note=reason or None)
        _tell(db, issue, followers(db, issue), "accepted", now, exclude=actor)
    elif decision == "reject":
        _set_status(db, issue, S.REJECTED.value, actor, now)
        issue.rejection_reason = reason
        _event(db, issue, "rejected", actor, now, reason=reason)
        _tell(db, issue, followers(db, issue), "rejected", now, exclude=actor, reason=reason)
    else:
        session = db.get(ConsultationSession, session_id) if isinstance(session_id, int) else None
        if session is None or session.community_id != issue.community_id:
            raise NotFound(N_("No such session."), field="session_id")
        lock_row(db, ConsultationSession, session.id)  # the next agenda position, one at a time
        if session.status == SessionStatus.CLOSED.value:
            raise Conflict(N_("This session is closed."), field="session_id")
        position = (db.scalar(select(func.max(AgendaItem.position)).where(AgendaItem.session_id == session.id))
                    or 0) + 1
        item = AgendaItem(session_id=session.id, position=position, title=issue.title[:200],
                          notes=issue.description[:4000], category_key=issue.category_key)
        db.add(item)
        db.flush()
        issue.session_id, issue.agenda_item_id = session.id, item.id
        _set_status(db, issue, S.SCHEDULED.value, actor, now)
        _event(db, issue, "scheduled", actor, now, session_id=session.id, session=session.title, note=reason or None)
        _tell(db, issue, followers(db, issue), "scheduled", now, exclude=actor, session=session.title)
    db.flush()
    return issue


def create_outside_body(db: Session, *, actor: Member | None, community: Community, name: str,
                        contact: str = "") -> OutsideBody:
    """Register an outside body (a company, a utility, a bureau without an account); staff only."""
    if actor is not None:
        _require(is_staff(db, actor, community.id))
    name = _text(name, "name", OUTSIDE_NAME_MAX, required=True)
    contact = _text(contact, "contact", 200)
    if db.scalar(select(OutsideBody.id).where(OutsideBody.community_id == community.id, OutsideBody.name == name)):
        raise Conflict(N_("An outside body with this name exists."), field="name")
    body = OutsideBody(community_id=community.id, name=name, contact=contact)
    try:
        with db.begin_nested():  # the same name added twice at once: the second is told
            db.add(body)
            db.flush()
    except IntegrityError as exc:
        raise Conflict(N_("An outside body with this name exists."), field="name") from exc
    return body


def list_outside_bodies(db: Session, community_id: int) -> list[OutsideBody]:
    return list(db.scalars(select(OutsideBody).where(OutsideBody.community_id == community_id)
                           .order_by(OutsideBody.name)))


def department_members(db: Session, community_id: int) -> list[Member]:
    return list(db.scalars(select(Member).join(RoleAssignment).where(
        Member.community_id == community_id, Member.active.is_(True),
        RoleAssignment.role == Role.DEPARTMENT.value).distinct().order_by(Member.display_name)))


def assign(db: Session, *, actor: Member, issue: Issue, due_at: datetime, department_member_id: int | None = None,
           outside_body_id: int | None = None, now: datetime | None = None) -> Issue:
    """Assign to a department member or an outside body with a due date (staff only)."""
    now = _now(now)
    _require(is_staff(db, actor, issue.community_id), N_("Only staff can assign issues."))
    _hold(db, issue)
    if issue.status not in ASSIGN_FROM:
        raise Conflict(N_("This issue cannot be assigned now."), field="status")
    if (department_member_id is None) == (outside_body_id is None):
        raise Invalid(N_("Choose one department or one outside body."), field="department_member_id")
    member = body = None
    if department_member_id is not None:
        member = db.get(Member, department_member_id) if isinstance(department_member_id, int) else None
        if member is None or member.community_id != issue.community_id or not is_department(member):
            raise NotFound(N_("No such department in this community."), field="department_member_id")
    else:
        body = db.get(OutsideBody, outside_body_id) if isinstance(outside_body_id, int) else None
        if body is None or body.community_id != issue.community_id:
            raise NotFound(N_("No such outside body in this community."), field="outside_body_id")
    if due_at.tzinfo is None:
        raise Invalid(N_("Not a valid datetime."), field="due_at")
    if not (now + MIN_DUE <= due_at <= now + MAX_DUE):
        raise Invalid(N_("The due date must be between one hour and 180 days from now."), field="due_at")
    issue.assigned_member_id = member.id if member else None
    issue.outside_body_id = body.id if body else None
    issue.assigned_at, issue.due_at = now, due_at
    _set_status(db, issue, S.ASSIGNED.value, actor, now)
    name = member.display_name if member else body.name
    _event(db, issue, "assigned", actor, now, department=name, due_at=due_at.isoformat())
    db.flush()
    db.refresh(issue)
    due = due_at.date().isoformat()
    _tell(db, issue, [m for m in followers(db, issue) if m.id != issue.assigned_member_id], "assigned", now,
          exclude=actor, department=name, due=due)
    if member is not None:
        _tell(db, issue, [member], "assigned_to_you", now, due=due)
    db.flush()
    return issue


def reply(db: Session, *, actor: Member, issue: Issue, body: str, now: datetime | None = None) -> IssueEvent:
    """The department reports in (报到): its reply goes on the timeline and to the residents."""
    now = _now(now)
    _require(can_view(db, actor, issue) and can_reply(db, actor, issue),
             N_("Only the department this issue is assigned to can reply."))
    _hold(db, issue)
    if issue.status not in REPLY_FROM:
        raise Conflict(N_("This issue is not waiting for a reply."), field="status")
    body = _text(body, "body", REPLY_MAX, required=True)
    if issue.first_reply_at is None:
        issue.first_reply_at = now
    if issue.status != S.REPLIED.value:
        _set_status(db, issue, S.REPLIED.value, actor, now)
    issue.updated_at = now
    department = issue.assignee_name() or actor.display_name
    ev = _event(db, issue, "replied", actor, now, body=body, department=department)
    db.flush()
    _tell(db, issue, followers(db, issue), "replied", now, exclude=actor, department=department)
    return ev


def resolve(db: Session, *, actor: Member, issue: Issue, note: str = "", now: datetime | None = None) -> Issue:
    """Mark resolved: a new rating round opens for supporters and residents of the place."""
    now = _now(now)
    _require(can_view(db, actor, issue) and can_resolve(db, actor, issue),
             N_("Only staff or the assigned department can mark this resolved."))
    _hold(db, issue)
    if issue.status not in RESOLVE_FROM:
        raise Conflict(N_("This issue cannot be marked resolved now."), field="status")
    note = _text(note, "note", REPLY_MAX)
    issue.resolved_at = now
    issue.rating_round += 1
    _set_status(db, issue, S.RESOLVED.value, actor, now)
    _event(db, issue, "resolved", actor, now, note=note or None, round=issue.rating_round)
    db.flush()
    raters = {m.id: m for m in followers(db, issue)}
    for m in db.scalars(select(Member).join(Place, Member.place_id == Place.id).where(
            Member.community_id == issue.community_id, Member.active.is_(True),
            Place.path.startswith(issue.place.path))):
        raters.setdefault(m.id, m)
    _tell(db, issue, [m for m in raters.values() if m.id != issue.assigned_member_id], "resolved", now,
          exclude=actor)
    return issue


def satisfaction(scores: Sequence[int], catalog: Any = None) -> float | None:
    """The average rating: through the ``satisfaction`` tally method when a plugin
    provides it, else computed here."""
    if not scores:
        return None
    method = None
    if catalog is not None:
        try:
            method = catalog.tally_methods.get("satisfaction")
        except Exception:  # pragma: no cover - a catalog without tally methods
            method = None
    if method is not None:
        try:
            result = method.tally(["issue"], [{"issue": int(s)} for s in scores], None, {})
            value = (result.get("averages") or {}).get("issue")
            if value is not None:
                return float(value)
        except Exception:  # a broken plugin must not stop the rating; fall back
            pass
    return sum(scores) / len(scores)


def round_scores(issue: Issue, round_: int | None = None) -> list[int]:
    r = issue.rating_round if round_ is None else round_
    return [x.score for x in issue.ratings if x.round == r]


def rate(db: Session, *, actor: Member, catalog: Any, issue: Issue, score: int, comment: str = "",
         now: datetime | None = None) -> IssueRating:
    """Rate a resolved issue 1–5. With at least MIN_RATINGS ratings in the round and an
    average below REOPEN_BELOW, the issue is reopened."""
    now = _now(now)
    _require(can_view(db, actor, issue) and can_rate(db, actor, issue),
             N_("Only supporters and residents of this place can rate this issue."))
    _hold(db, issue)
    if issue.status != S.RESOLVED.value:
        raise Conflict(N_("Only a resolved issue can be rated."), field="status")
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        raise Invalid(N_("Choose a rating from 1 to 5."), field="score")
    comment = _text(comment, "comment", COMMENT_MAX)
    row = IssueRating(issue_id=issue.id, member_id=actor.id, round=issue.rating_round, score=score, comment=comment,
                      created_at=now)
    try:
        with db.begin_nested():
            db.add(row)
            db.flush()
    except IntegrityError as exc:
        raise Conflict(N_("You have already rated this result."), field="score") from exc
    _event(db, issue, "rated", actor, now, score=score, comment=comment or None, round=issue.rating_round)
    db.flush()
    db.refresh(issue)
    scores = round_scores(issue)
    average = satisfaction(scores, catalog)
    if len(scores) >= MIN_RATINGS and average is not None and average < REOPEN_BELOW:
        _set_status(db, issue, S.REOPENED.value, None, now)
        _event(db, issue, "reopened", None, now, average=round(average, 2), ratings=len(scores),
               reason="low_rating")
        _tell(db, issue, followers(db, issue), "reopened", now)
        db.flush()
    return row


def reopen(db: Session, *, actor: Member, issue: Issue, reason: str = "", now: datetime | None = None) -> Issue:
    now = _now(now)
    _require(is_staff(db, actor, issue.community_id), N_("Only staff can reopen issues."))
    _hold(db, issue)
    if issue.status not in (S.RESOLVED.value, S.REJECTED.value):
        raise Conflict(N_("Only a resolved or rejected issue can be reopened."), field="status")
    reason = _text(reason, "reason", REASON_MAX)
    _set_status(db, issue, S.REOPENED.value, actor, now)
    _event(db, issue, "reopened", actor, now, reason=reason or None)
    _tell(db, issue, followers(db, issue), "reopened", now, exclude=actor)
    db.flush()
    return issue


def close(db: Session, *, actor: Member, issue: Issue, note: str = "", now: datetime | None = None) -> Issue:
    """Close a resolved issue after its review (staff)."""
    now = _now(now)
    _require(is_staff(db, actor, issue.community_id), N_("Only staff can close issues."))
    _hold(db, issue)
    if issue.status not in (S.RESOLVED.value, S.REOPENED.value):
        raise Conflict(N_("Only a resolved issue can be closed."), field="status")
    note = _text(note, "note", REASON_MAX)
    issue.closed_at = now
    _set_status(db, issue, S.CLOSED.value, actor, now)
    _event(db, issue, "closed", actor, now, note=note or None)
    _tell(db, issue, followers(db, issue), "closed", now, exclude=actor)
    db.flush()
    return issue


def merge(db: Session, *, actor: Member, issue: Issue, into_id: int, now: datetime | None = None) -> Issue:
    """Merge a duplicate into another issue (staff): its supporters follow the target."""
    now = _now(now)
    _require(is_staff(db, actor, issue.community_id), N_("Only staff can merge issues."))
    target = db.get(Issue, into_id) if isinstance(into_id, int) else None
    if target is None or target.community_id != issue.community_id:
        raise NotFound(N_("No such issue in this community."), field="into_id")
    if target.id == issue.id:
        raise Invalid(N_("An issue cannot be merged into itself."), field="into_id")
    _hold(db, issue, target)
    if issue.status not in MERGE_FROM:
        raise Conflict(N_("This issue cannot be merged now."), field="status")
    if target.status in CLOSED_STATES or target.status == S.REJECTED.value:
        raise Conflict(N_("Merge into an issue that is still open."), field="into_id")
    have = {s.member_id for s in target.supports}
    for s in issue.supports:
        if s.member_id not in have:
            db.add(IssueSupport(issue_id=target.id, member_id=s.member_id, created_at=now))
            have.add(s.member_id)
    issue.merged_into_id = target.id
    _set_status(db, issue, S.MERGED.value, actor, now)
    _event(db, issue, "merged", actor, now, into_id=target.id, into=target.title)
    _event(db, target, "merged_from", actor, now, from_id=issue.id, title=issue.title)
    db.flush()
    _tell(db, issue, followers(db, issue), "merged", now, exclude=actor, target=target.title)
    db.refresh(target)
    return issue


# ---------------------------------------------------------------------------
# Escalation
# ---------------------------------------------------------------------------


def escalation_chain(db: Session, place: Place) -> list[Place]:
    """The places an issue at ``place`` climbs through, bottom-up: its grid (or the lowest
    of grid / community / street above it), then the community, then the street."""
    ids = place.ancestor_ids()
    by_id = {p.id: p for p in db.scalars(select(Place).where(Place.id.in_(ids)))}
    upward = [by_id[i] for i in reversed(ids) if i in by_id]
    chain = [p for p in upward if p.kind in ESCALATION_KINDS]
    return chain or upward[-1:]


def is_overdue(issue: Issue, now: datetime) -> bool:
    return issue.status in OVERDUE_STATUSES and issue.due_at is not None and now > issue.due_at


def overdue_period(issue: Issue) -> timedelta:
    given = (issue.due_at - issue.assigned_at) if (issue.due_at and issue.assigned_at) else MIN_OVERDUE_PERIOD
    return max(given, MIN_OVERDUE_PERIOD)


def target_level(issue: Issue, chain_length: int, now: datetime) -> int:
    """Level 1 as soon as it is overdue, one more per further overdue period, capped."""
    if not is_overdue(issue, now):
        return issue.escalation_level
    periods = math.floor((now - issue.due_at) / overdue_period(issue))
    return max(issue.escalation_level, min(1 + periods, chain_length - 1))


def heads_of(db: Session, place: Place) -> list[Member]:
    """Who answers for a place: the heads and staff bound to it, else the community's staff."""
    roles = {r.value for r in PLACE_HEAD_ROLES | STAFF_ROLES}
    found = list(db.scalars(select(Member).join(RoleAssignment).where(
        RoleAssignment.place_id == place.id, RoleAssignment.role.in_(roles), Member.active.is_(True)).distinct()))
    if found:
        return found
    return list(db.scalars(select(Member).join(RoleAssignment).where(
        Member.community_id == place.community_id, RoleAssignment.place_id.is_(None),
        RoleAssignment.role.in_({r.value for r in STAFF_ROLES}), Member.active.is_(True)).distinct()))


def escalate_overdue(db: Session, *, now: datetime | None = None,
                     community_id: int | None = None) -> list[tuple[Issue, Place, Place]]:
    """Move every overdue issue up the place hierarchy, one level per overdue period
    (grid → community → street); safe to run as often as you like (cron, or lazily)."""
    now = _now(now)
    query = select(Issue).where(Issue.status.in_(OVERDUE_STATUSES), Issue.due_at.is_not(None), Issue.due_at < now)
    if community_id is not None:
        query = query.where(Issue.community_id == community_id)
    moved: list[tuple[Issue, Place, Place]] = []
    for issue in db.scalars(query.order_by(Issue.id)).all():
        chain = escalation_chain(db, issue.place)
        goal = target_level(issue, len(chain), now)
        while issue.escalation_level < goal:
            level = issue.escalation_level
            source, target = chain[level], chain[level + 1]
            # a conditional UPDATE: two requests escalating lazily at the same moment (two
            # residents opening the list) move it once, and only the one that did tells
            moved_now = db.execute(update(Issue).where(Issue.id == issue.id, Issue.escalation_level == level)
                                   .values(escalation_level=level + 1, escalation_place_id=target.id,
                                           updated_at=now)
                                   .execution_options(synchronize_session=False)).rowcount == 1
            db.refresh(issue, ["escalation_level", "escalation_place_id", "updated_at"])
            if not moved_now:
                if issue.escalation_level <= level:  # pragma: no cover - the row changed otherwise
                    break
                continue
            _event(db, issue, "escalated", None, now, level=issue.escalation_level, from_place=source.name,
                   to_place=target.name, due_at=issue.due_at.isoformat())
            db.flush()
            _tell(db, issue, followers(db, issue) + heads_of(db, target), "escalated", now, place=target.name)
            events.queue(db, "courtyard_issue_escalated", community_id=issue.community_id, issue=issue,
                         from_place=source, to_place=target)
            moved.append((issue, source, target))
    db.flush()
    return moved


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------


def get_issue(db: Session, *, actor: Member | None, issue_id: int, community_id: int) -> Issue:
    issue = db.get(Issue, issue_id)
    if issue is None or issue.community_id != community_id:
        raise NotFound(N_("No such issue in this community."), field="issue_id")
    if actor is None or actor.community_id != community_id:
        raise Forbidden(N_("Only members of this community can do this."))
    _require(can_view(db, actor, issue))
    return issue


def list_issues(db: Session, *, actor: Member | None, community: Community, catalog: Any = None,
                category_key: str | None = None, status: str | None = None, place_id: int | None = None,
                now: datetime | None = None, limit: int = 200, offset: int = 0) -> list[Issue]:
    """Issues the actor may see, newest first. ``status="overdue"`` lists overdue ones;
    ``place_id`` takes the place and everything below it."""
    now = _now(now)
    require_member(actor, community.id)
    query = select(Issue).where(Issue.community_id == community.id).options(selectinload(Issue.supports))
    if department_only(actor):
        query = query.where(Issue.assigned_member_id == actor.id)
    if category_key:
        if catalog is not None:
            categories_service.require_category(db, catalog, community, category_key)
        query = query.where(Issue.category_key == category_key)
    if status == "overdue":
        query = query.where(Issue.status.in_(OVERDUE_STATUSES), Issue.due_at < now)
    elif status:
        if status not in {s.value for s in IssueStatus}:
            raise Invalid(N_("Unknown status."), field="status")
        query = query.where(Issue.status == status)
    else:
        query = query.where(Issue.status != S.MERGED.value)
    if place_id is not None:
        place = _place(db, community.id, place_id, field="place")
        query = query.join(Place, Issue.place_id == Place.id).where(Place.path.startswith(place.path))
    query = query.order_by(Issue.created_at.desc(), Issue.id.desc()).limit(limit).offset(offset)
    return list(db.scalars(query))


def issues_for_stats(db: Session, *, actor: Member, community: Community) -> list[Issue]:
    """Every issue the actor may see, with ratings loaded, for the dashboards."""
    require_member(actor, community.id)
    query = select(Issue).where(Issue.community_id == community.id).options(
        selectinload(Issue.ratings), selectinload(Issue.assigned_member), selectinload(Issue.outside_body))
    if department_only(actor):
        query = query.where(Issue.assigned_member_id == actor.id)
    return list(db.scalars(query.order_by(Issue.id)))


def photo(db: Session, *, actor: Member | None, issue: Issue, photo_id: int) -> IssuePhoto:
    _require(can_view(db, actor, issue))
    row = db.get(IssuePhoto, photo_id)
    if row is None or row.issue_id != issue.id:
        raise NotFound(N_("Not found."), field="photo_id")
    return row


# ---------------------------------------------------------------------------
# Review meetings (monthly 例会, quarterly 通报会)
# ---------------------------------------------------------------------------


@dataclass
class ReviewItem:
    issue: Issue
    section: str  # overdue | open | rated
    average: float | None = None
    ratings: int = 0


REVIEW_LABELS = {
    "zh_CN": {"overdue": "逾期", "open": "未办结", "rated": "已评议"},
    "en": {"overdue": "Overdue", "open": "Open", "rated": "Rated"},
}


def review_items(db: Session, *, community: Community, period: str, until: datetime | None = None,
                 catalog: Any = None) -> list[ReviewItem]:
    """What a review meeting goes through: the overdue issues, the other unfinished ones
    raised before ``until``, and the issues rated during the period (the 30 days — or 91
    for ``quarterly`` — before ``until``), in that order."""
    if period not in REVIEW_PERIODS:
        raise Invalid(N_("Must be one of: %(choices)s."), field="period", choices="monthly, quarterly")
    until = _now(until)
    since = until - REVIEW_PERIODS[period]
    rows = list(db.scalars(select(Issue).where(Issue.community_id == community.id, Issue.created_at < until)
                           .options(selectinload(Issue.ratings)).order_by(Issue.created_at, Issue.id)))
    overdue = [ReviewItem(i, "overdue") for i in rows if is_overdue(i, until)]
    seen = {r.issue.id for r in overdue}
    unfinished = [ReviewItem(i, "open") for i in rows if i.status in UNFINISHED and i.id not in seen]
    rated = []
    for i in rows:
        recent = [r for r in i.ratings if since <= r.created_at < until]
        if recent:
            scores = round_scores(i, max(r.round for r in recent))
            rated.append(ReviewItem(i, "rated", satisfaction(scores, catalog), len(scores)))
    return overdue + unfinished + rated


def review_agenda_titles(items: Sequence[ReviewItem], locale: str = "zh_CN") -> list[str]:
    labels = REVIEW_LABELS.get(locale, REVIEW_LABELS["en"])
    out = []
    for item in items:
        extra = f" ({item.average:.1f}/5, {item.ratings})" if item.section == "rated" and item.average else ""
        out.append(f"{labels[item.section]} #{item.issue.id} {item.issue.title}{extra}"[:200])
    return out


def add_review_agenda(db: Session, *, actor: Member | None, session: ConsultationSession, period: str,
                      until: datetime | None = None, catalog: Any = None) -> list[AgendaItem]:
    """Put the review items of the period ending at the session's start (or ``until``) on
    a review meeting's agenda. Staff or the session's host; ``actor`` None is the operator."""
    from core.services.sessions import can_run

    if actor is not None:
        _require(can_run(db, actor, session), N_("Only the host or staff can change this session."))
    if session.status == SessionStatus.CLOSED.value:
        raise Conflict(N_("This session is closed."), field="status")
    community = db.get(Community, session.community_id)
    items = review_items(db, community=community, period=period, until=until or session.starts_at, catalog=catalog)
    existing = {a.title for a in session.agenda}
    position = max((a.position for a in session.agenda), default=0)
    added = []
    for title, item in zip(review_agenda_titles(items, community.default_locale), items):
        if title in existing:
            continue
        position += 1
        row = AgendaItem(session_id=session.id, position=position, title=title, notes=item.issue.description[:4000],
                         category_key=item.issue.category_key)
        db.add(row)
        added.append(row)
    db.flush()
    db.refresh(session)
    return added


def members_by_id(db: Session, ids: Iterable[int | None]) -> dict[int, Member]:
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    return {m.id: m for m in db.scalars(select(Member).where(Member.id.in_(wanted)))}


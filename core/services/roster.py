"""Importing a roster: the rows ``core.roster.read_roster`` read become places,
households, members and roles, in one go or not at all.

- **Nothing of a bad file is written.** Problems found in the file or against the
  database are returned row by row and the database is left as it was.
- **Dry run = the same code.** The import runs in a savepoint that a dry run rolls back,
  so the preview's counts are the import's counts.
- **Identity across imports**: a row is the member with the same phone number in the
  community; a row without a phone is the member with the same name in the same household
  (or, with no household, at the same home place). Anything else is a new member.
- **Idempotent**: a second import of the same file creates and updates nothing. A changed
  file updates names, phones, places, rooms, notes and households (only the columns the
  file has) and grants the roles it names; it never removes a role and never deactivates:
  active residents the file no longer names are *listed* (``missing``) for an
  administrator to deactivate. Members holding admin, moderator or department roles are
  staff, not residents, and are never listed.
- **Places**: grids are matched or created under the community's own place (the place of
  kind "community"), buildings under their grid (or, on a file without grids, under the
  community), units under their building. A building named without its grid is matched by
  name when the community has exactly one building of that name.
- **Households**: grouped by 户号 within the home place (unit, else building, else grid),
  by "same household as" (同户: the person named is the representative), or else by room
  within the home place. A row with none of these has no household.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import lazyload
from sqlalchemy.orm import Session

from core.db import utcnow
from core.i18n import N_
from core.models import Community, Household, Member, Place, RoleAssignment
from core.models.member import Role
from core.people import name_pinyin, search_text
from core.roster import Problem, Roster, RosterRow
from core.services import audit
from core.services.access import require_role

#: roles of people who run the community rather than live in it: never listed as missing
STAFF_ONLY = frozenset({Role.ADMIN.value, Role.MODERATOR.value, Role.DEPARTMENT.value})
_PLACE_LEVELS = ("grid", "building", "unit")


@dataclass
class RosterResult:
    """What an import did (or, for a dry run, would do)."""

    dry_run: bool
    applied: bool = False
    encoding: str = ""
    rows: int = 0
    problems: list[Problem] = field(default_factory=list)
    members: dict[str, int] = field(default_factory=lambda: {"created": 0, "updated": 0, "unchanged": 0})
    places: dict[str, int] = field(default_factory=lambda: {"created": 0, "matched": 0})
    households: dict[str, int] = field(default_factory=lambda: {"created": 0, "matched": 0})
    roles: dict[str, int] = field(default_factory=lambda: {"granted": 0, "kept": 0})
    #: active residents the file does not name: [{"id", "name", "place"}] (no phone, no room)
    missing: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "applied": self.applied, "encoding": self.encoding, "rows": self.rows,
                "problems": [p.as_dict() for p in self.problems], "members": dict(self.members),
                "places": dict(self.places), "households": dict(self.households), "roles": dict(self.roles),
                "missing": list(self.missing)}


class _Places:
    """The community's places by (parent id, kind, name), and the ones to create."""

    def __init__(self, db: Session, community: Community):
        self.all = list(db.scalars(select(Place).where(Place.community_id == community.id).order_by(Place.id)))
        self.root = next((p for p in self.all if p.kind == "community"), None)
        self.index: dict[tuple[Any, str, str], Place] = {(p.parent_id, p.kind, p.name): p for p in self.all}
        self.by_kind_name: dict[tuple[str, str], list[Place]] = {}
        for p in self.all:
            self.by_kind_name.setdefault((p.kind, p.name), []).append(p)


def import_roster(db: Session, *, actor: Member | None, community: Community, roster: Roster,
                  dry_run: bool = False, now: datetime | None = None, source: str = "") -> RosterResult:
    """Import ``roster`` into ``community`` (an administrator of it, or ``actor`` None: the
    operator). With problems, nothing is written and the result lists them; ``dry_run``
    computes the same result and writes nothing. Flushes; the caller commits."""
    if actor is not None:
        require_role(db, actor, [Role.ADMIN], community_id=community.id)
    now = now or utcnow()
    result = RosterResult(dry_run=dry_run, encoding=roster.encoding, rows=len(roster.rows),
                          problems=list(roster.problems))
    if not roster.ok:
        return result
    _begin(db)
    places = _Places(db, community)
    homes = _resolve_places(roster, places, result)
    if result.problems:
        return result
    savepoint = db.begin_nested()
    try:
        with db.no_autoflush:
            _apply(db, community, roster, places, homes, result)
        if not result.problems and not dry_run:
            audit.record(db, actor=actor, community=community, action="roster.import", target=source[:200],
                         details={"rows": result.rows, "members": result.members, "places": result.places,
                                  "households": result.households, "roles": result.roles,
                                  "missing": len(result.missing)}, now=now)
    except BaseException:
        savepoint.rollback()
        raise
    if dry_run or result.problems:
        savepoint.rollback()
    else:
        savepoint.commit()
        result.applied = True
    return result


def _begin(db: Session) -> None:
    """Make sure the caller's transaction is open on SQLite before the savepoint.

    pysqlite opens a transaction only before a data-changing statement, so a SAVEPOINT
    issued first would *be* the transaction and its RELEASE would commit the import behind
    the caller's back (a rollback afterwards would not undo it). BEGIN IMMEDIATE also takes
    the write lock before the community's state is read, so the plan is made on the state it
    is applied to."""
    conn = db.connection()
    if conn.dialect.name == "sqlite" and not conn.connection.dbapi_connection.in_transaction:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


# -- places ---------------------------------------------------------------------------------

_Key = tuple  # ("grid", name) / ("building", grid key or None, name) / ("unit", building key, name)


def _resolve_places(roster: Roster, places: _Places, result: RosterResult) -> dict[int, tuple[Any, ...]]:
    """Each row's grid, building and unit as keys (existing places are found later);
    problems for a building that cannot be placed. Read-only."""
    homes: dict[int, tuple[Any, ...]] = {}
    file_has_grids = "grid" in roster.headers
    for row in roster.rows:
        grid = ("grid", row.grid) if row.grid else None
        building = None
        if row.building:
            if grid is not None:
                building = ("building", grid, row.building)
            else:
                known = places.by_kind_name.get(("building", row.building), [])
                if len(known) == 1:
                    building = ("existing", known[0].id)
                elif len(known) > 1:
                    result.problems.append(Problem(row.row, roster.headers.get("grid") or roster.headers["building"],
                                                   N_("Several buildings are called %(building)s: name its grid."),
                                                   {"building": row.building}))
                    continue
                elif file_has_grids:
                    result.problems.append(Problem(row.row, roster.headers["grid"], N_(
                        "Building %(building)s is in no grid: fill in the grid it belongs to."),
                        {"building": row.building}))
                    continue
                else:
                    building = ("building", None, row.building)
        unit = ("unit", building, row.unit) if row.unit and building is not None else None
        homes[row.row] = (grid, building, unit)
    result.problems.sort(key=lambda p: p.row)
    return homes


def _place_for(db: Session, community: Community, places: _Places, key: Any, created: list[Place]) -> Place | None:
    if key is None:
        return None
    cache: dict[Any, Place] = places.__dict__.setdefault("_by_key", {})
    if key in cache:
        return cache[key]
    if key[0] == "existing":
        place = db.get(Place, key[1])
    else:
        if key[0] == "grid":
            parent, kind, name = places.root, "grid", key[1]
        else:
            parent = _place_for(db, community, places, key[1], created) if key[1] is not None else places.root
            kind, name = key[0], key[2]
        # a parent created in this import has no id yet: it is told apart by identity
        parent_key = None if parent is None else parent.id if parent.id is not None else ("new", id(parent))
        place = places.index.get((parent_key, kind, name))
        if place is None:
            place = Place(community_id=community.id, kind=kind, name=name,
                          path=parent.path if parent is not None else "/")
            place.parent = parent
            places.index[(parent_key, kind, name)] = place
            created.append(place)
    cache[key] = place
    return place


def _create_places(db: Session, created: list[Place]) -> None:
    """Insert the new places level by level (one flush per level) and set their paths."""
    pending = list(created)
    while pending:
        level = [p for p in pending if p.parent is None or p.parent.id is not None]
        db.add_all(level)
        db.flush()
        for p in level:
            p.path = f"{p.parent.path if p.parent is not None else '/'}{p.id}/"
        done = {id(p) for p in level}
        pending = [p for p in pending if id(p) not in done]
    db.flush()


# -- the import -----------------------------------------------------------------------------

def _apply(db: Session, community: Community, roster: Roster, places: _Places,
           homes: dict[int, tuple[Any, ...]], result: RosterResult) -> None:
    headers = roster.headers
    created_places: list[Place] = []
    row_places: dict[int, tuple[Place | None, ...]] = {}
    for row in roster.rows:
        grid, building, unit = homes[row.row]
        row_places[row.row] = tuple(_place_for(db, community, places, k, created_places)
                                    for k in (grid, building, unit))
    _create_places(db, created_places)
    touched = {id(p) for ps in row_places.values() for p in ps if p is not None}
    result.places["created"] = len(created_places)
    result.places["matched"] = len(touched) - len(created_places)

    def home_of(row: RosterRow) -> Place | None:
        grid, building, unit = row_places[row.row]
        return unit or building or grid or (places.root if (row.grid or row.building) else None)

    # existing members, households and roles, loaded once
    members = list(db.scalars(select(Member).where(Member.community_id == community.id)
                              .options(lazyload(Member.roles))))
    by_phone = {m.phone: m for m in members if m.phone}
    by_name_household: dict[tuple[str, int], Member] = {}
    by_name_place: dict[tuple[str, int | None], Member] = {}
    housed_by_name_place: dict[tuple[str, int | None], Member] = {}
    for m in sorted(members, key=lambda m: -m.id):  # the oldest wins
        if m.household_id is not None:
            by_name_household[(m.display_name, m.household_id)] = m
            housed_by_name_place[(m.display_name, m.place_id)] = m
        else:
            by_name_place[(m.display_name, m.place_id)] = m
    households = list(db.scalars(select(Household).where(Household.community_id == community.id)))
    hh_by_number = {(h.place_id, h.number): h for h in households if h.number}
    hh_by_room: dict[tuple[int | None, str], Any] = {}
    for h in sorted(households, key=lambda h: h.id):
        if not h.number and h.room:
            hh_by_room.setdefault((h.place_id, h.room), h)
    hh_by_id = {h.id: h for h in households}
    held: set[tuple[int, str, int | None]] = set()
    staff: set[int] = set()
    for member_id, role, place_id in db.execute(
            select(RoleAssignment.member_id, RoleAssignment.role, RoleAssignment.place_id)
            .join(Member, Member.id == RoleAssignment.member_id).where(Member.community_id == community.id)):
        held.add((member_id, role, place_id))
        if role in STAFF_ONLY:
            staff.add(member_id)

    # 1. members with a phone are found by it, whatever their household
    matched: dict[int, Member] = {}
    taken: set[int] = set()
    for row in roster.rows:
        if row.phone and row.phone in by_phone and by_phone[row.phone].id not in taken:
            matched[row.row] = by_phone[row.phone]
            taken.add(matched[row.row].id)

    # 2. households
    household_columns = {"household", "same_household", "room"} & set(headers)
    row_by_name: dict[str, RosterRow] = {}
    for row in roster.rows:
        row_by_name.setdefault(row.name, row)

    # "same household as" links rows into groups (union-find: chains and cycles alike)
    parent = {row.row: row.row for row in roster.rows}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for row in roster.rows:
        if row.same_household:
            a, b = find(row.row), find(row_by_name[row.same_household].row)
            if a != b:
                parent[max(a, b)] = min(a, b)
    groups: dict[int, list[RosterRow]] = {}
    for row in roster.rows:
        groups.setdefault(find(row.row), []).append(row)
    households_for: dict[int, Any] = {}
    new_households: list[Any] = []
    matched_households: set[int] = set()
    representative: dict[int, RosterRow] = {}  # id(household) → the row that represents it
    for members_rows in groups.values():
        # the representative: the first row that names no one else, else the first row
        root = next((r for r in members_rows if not r.same_household), members_rows[0])
        home = home_of(root)
        home_id = home.id if home is not None else None
        household: Household | None = None
        if root.household:
            household = hh_by_number.get((home_id, root.household))
            if household is None:
                household = _new(community_id=community.id, place_id=home_id, number=root.household, room=None)
                hh_by_number[(home_id, root.household)] = household
                new_households.append(household)
        elif len(members_rows) > 1:
            # a "same household as" group: the household of any member already known
            for r in members_rows:
                known = matched.get(r.row)
                if known is None and not r.phone:
                    r_home = home_of(r)
                    known = housed_by_name_place.get((r.name, r_home.id if r_home is not None else None))
                if known is not None and known.household_id in hh_by_id:
                    household = hh_by_id[known.household_id]
                    break
            if household is None and root.room:
                household = hh_by_room.get((home_id, root.room))
            if household is None:
                household = _new(community_id=community.id, place_id=home_id, number=None, room=root.room)
                new_households.append(household)
                if root.room:
                    hh_by_room[(home_id, root.room)] = household
        elif root.room:
            household = hh_by_room.get((home_id, root.room))
            if household is None:
                household = _new(community_id=community.id, place_id=home_id, number=None, room=root.room)
                hh_by_room[(home_id, root.room)] = household
                new_households.append(household)
        for r in members_rows:
            households_for[r.row] = household
        if household is not None:
            representative.setdefault(id(household), root)
            if household.id is not None:
                matched_households.add(household.id)
    _bulk_insert(db, Household, new_households, ("community_id", "place_id", "number", "room"))
    result.households["created"] = len(new_households)
    result.households["matched"] = len(matched_households)

    # 3. members without a phone: the same name in the same household (or home place)
    for row in roster.rows:
        if row.row in matched:
            continue
        household = households_for.get(row.row)
        if row.phone:
            continue
        if household is not None and household.id is not None:
            candidate = by_name_household.get((row.name, household.id))
        else:
            home = home_of(row)
            candidate = by_name_place.get((row.name, home.id if home is not None else None))
        if candidate is not None and candidate.id not in taken:
            matched[row.row] = candidate
            taken.add(candidate.id)

    # 4. write members
    new_members: list[tuple[RosterRow, Member]] = []
    place_columns = bool({"grid", "building", "unit"} & set(headers))
    for row in roster.rows:
        home = home_of(row)
        grid, building, unit = row_places[row.row]
        wanted: dict[str, Any] = {"display_name": row.name}
        if "phone" in headers:
            wanted["phone"] = row.phone
        if place_columns:
            wanted["place_id"] = home.id if home is not None else None
        if "room" in headers:
            wanted["room"] = row.room
        if "note" in headers:
            wanted["note"] = row.note
        if household_columns:
            household = households_for.get(row.row)
            wanted["household_id"] = household.id if household is not None else None
        member = matched.get(row.row)
        names = [p.name for p in (grid, building, unit) if p is not None]
        if member is None:
            member = _new(community_id=community.id, **{"phone": None, "place_id": None, "room": None,
                                                        "note": None, "household_id": None, **wanted})
            new_members.append((row, member))
        else:
            changed = {k: v for k, v in wanted.items() if getattr(member, k) != v}
            for k, v in changed.items():
                setattr(member, k, v)
            result.members["updated" if changed else "unchanged"] += 1
            if not place_columns:
                names = _names_below_community(places, member.place_id)
        member.name_pinyin = name_pinyin(member.display_name)
        text = search_text(member.display_name, names)
        if member.search_text != text:
            member.search_text = text
    result.members["created"] = len(new_members)
    db.flush()  # the updates
    _bulk_insert(db, Member, [m for _, m in new_members],
                 ("community_id", "display_name", "phone", "place_id", "room", "note", "household_id",
                  "name_pinyin", "search_text"))
    for row, member in new_members:
        matched[row.row] = member
    created_ids = {m.id for _, m in new_members}

    # 5. representatives of households that have none
    representatives = []
    for household in new_households + [hh_by_id[i] for i in matched_households]:
        if household.representative_id is None:
            rep_row = representative.get(id(household))
            if rep_row is not None and rep_row.row in matched:
                household.representative_id = matched[rep_row.row].id
                representatives.append({"id": household.id, "representative_id": household.representative_id})
    if representatives:
        db.flush()
        db.execute(update(Household), representatives)

    # 6. roles: granted where missing, never removed
    new_roles: list[dict[str, Any]] = []
    for row in roster.rows:
        member = matched[row.row]
        grid, building, unit = row_places[row.row]
        home = home_of(row)
        for role in row.roles:
            place = {"grid_head": grid, "building_head": building, "unit_head": unit,
                     "resident": home}.get(role)
            key = (member.id, role, place.id if place is not None else None)
            if key in held:
                result.roles["kept"] += 1
                continue
            held.add(key)
            new_roles.append({"member_id": member.id, "role": role, "place_id": key[2]})
    result.roles["granted"] = len(new_roles)
    db.flush()
    if new_roles:
        db.execute(insert(RoleAssignment).execution_options(render_nulls=True), new_roles)
    if new_roles:
        for member in {id(m): m for m in matched.values()}.values():
            if member.id not in created_ids and member in db:
                db.expire(member, ["roles"])

    # 7. active residents the file does not name
    named = {m.id for m in matched.values()}
    for m in sorted(members, key=lambda m: (m.name_pinyin, m.id)):
        if m.id in named or not m.active or m.id in staff:
            continue
        result.missing.append({"id": m.id, "name": m.display_name,
                               "place": " ".join(_names_below_community(places, m.place_id))})


def _new(**values: Any) -> SimpleNamespace:
    """A row to insert in bulk: a plain object (a mapped instance costs ~100 µs to build)."""
    return SimpleNamespace(id=None, representative_id=None, search_text=None, **values)


def _bulk_insert(db: Session, model: type, objects: list[Any], columns: tuple[str, ...]) -> None:
    """Insert ``objects`` (plain rows, never added to the session) with one executemany and
    give each its id: the unit of work costs ~0.5 ms a row on a roster of 10,000, this a
    few µs.

    PostgreSQL returns the ids in parameter order (``RETURNING`` with its sentinel). SQLite
    cannot order a multi-row ``RETURNING`` (SQLAlchemy would fall back to one statement a
    row), but it has one writer at a time: inside this write transaction the rows of one
    executemany get the next ids in order, which are read back and counted."""
    if not objects:
        return
    params = [{c: getattr(o, c) for c in columns} for o in objects]
    # render_nulls: rows with and without a phone stay in one batch (else SQLAlchemy splits
    # the batch at each change of the keys that are None)
    stmt = insert(model).execution_options(render_nulls=True)
    if db.get_bind().dialect.name == "sqlite":
        before = db.scalar(select(func.max(model.id))) or 0
        db.execute(stmt, params)
        ids = db.scalars(select(model.id).where(model.id > before).order_by(model.id)).all()
        if len(ids) != len(objects):  # pragma: no cover - another writer inside our transaction
            raise RuntimeError(f"{model.__tablename__}: {len(ids)} new rows for {len(objects)} inserted")
    else:
        ids = db.scalars(stmt.returning(model.id, sort_by_parameter_order=True), params).all()
    for obj, new_id in zip(objects, ids):
        obj.id = new_id


def _names_below_community(places: _Places, place_id: int | None) -> list[str]:
    if place_id is None:
        return []
    by_id = places.__dict__.setdefault("_by_id", {p.id: p for p in places.all})
    place = by_id.get(place_id)
    if place is None:
        return []
    return [by_id[i].name for i in place.ancestor_ids() if i in by_id and by_id[i].kind not in ("street", "community")]

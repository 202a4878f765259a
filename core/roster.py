"""Reading a roster file: CSV or XLSX as councils keep them, one resident a row.

Pure: bytes in, rows and problems out, no database. ``core.services.roster`` turns the
rows into places, households, members and roles.

Rules (docs/roster.md says the same for administrators):

- The header is the first row with a name column (姓名 / name), after at most four
  rows of title above it (rows above are skipped); its columns are recognised in Chinese as
  councils write them or in English (``COLUMNS``); other columns are ignored. Rows are
  numbered as the spreadsheet numbers them (the header of a file that starts with it is
  row 1); row 0 is the file as a whole.
- CSV is read as UTF-8 (with or without a byte-order mark). A file saved by Excel on a
  Chinese Windows is GBK: it is decoded as GB18030 (GBK's superset) *when the header
  then reads as one* (a name column is recognised), and the result names the encoding;
  a file that is neither is refused at row 0 naming what it looks like.
- XLSX is read with openpyxl (read-only) from the first sheet. Formulas are not
  evaluated: a cell holding one makes its row bad ("paste values"). That is why the
  workbook is opened without ``data_only``: with it, openpyxl returns the value Excel
  cached and the formula could not be seen.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Iterable

from core.i18n import N_
from core.people import normalise_phone

#: column key → the headers that name it (compared lower-case, without spaces, "*" or "(必填)")
COLUMNS: dict[str, tuple[str, ...]] = {
    "name": ("姓名", "名字", "居民姓名", "name", "fullname"),
    "phone": ("手机号", "手机", "手机号码", "电话", "联系电话", "电话号码", "phone", "mobile", "phonenumber"),
    "grid": ("网格", "所属网格", "网格名称", "grid"),
    "building": ("楼栋", "楼号", "栋", "楼栋号", "building"),
    "unit": ("单元", "单元号", "unit"),
    "room": ("房号", "门牌号", "房间号", "室", "room"),
    "household": ("户号", "household", "householdnumber"),
    "same_household": ("同户", "同户人", "sameas", "samehouseholdas", "same_household"),
    "role": ("角色", "身份", "职务", "role", "roles"),
    "note": ("备注", "note", "notes"),
}
_HEADER_INDEX = {alias: key for key, aliases in COLUMNS.items() for alias in aliases}

#: role words → Role values (core.models.member.Role); a cell may hold several, "网格长、居民"
ROLE_WORDS: dict[str, str] = {
    "居民": "resident", "resident": "resident", "村民": "resident",
    "网格长": "grid_head", "网格员": "grid_head", "gridhead": "grid_head", "grid_head": "grid_head",
    "楼栋长": "building_head", "楼长": "building_head", "buildinghead": "building_head",
    "building_head": "building_head",
    "单元长": "unit_head", "unithead": "unit_head", "unit_head": "unit_head",
    "主持人": "host", "院长": "host", "host": "host",
    "议事协调员": "moderator", "moderator": "moderator",
    "职能部门": "department", "部门": "department", "department": "department",
    "管理员": "admin", "admin": "admin", "administrator": "admin",
}
#: a role held over a place needs that place named on its row
ROLE_PLACE = {"grid_head": "grid", "building_head": "building", "unit_head": "unit"}
ROLE_PLACE_MISSING = {
    "grid_head": N_("A grid head needs their grid on the same row."),
    "building_head": N_("A building head needs their building on the same row."),
    "unit_head": N_("A unit head needs their unit on the same row."),
}
_ROLE_SPLIT = re.compile(r"[、,，;；/／]+")
_SPACE = re.compile(r"\s+")
_HEADER_NOISE = re.compile(r"[\s*＊:：]|[(（]必填[)）]")

#: how many non-empty rows may stand above the header (a title, a date, a blank-ish line)
HEADER_SEARCH_ROWS = 5

LIMITS = {"name": 80, "grid": 120, "building": 120, "unit": 120, "room": 32, "household": 32,
          "same_household": 80, "note": 500, "phone": 40, "role": 200}


@dataclass(frozen=True)
class Problem:
    """Why a row is bad: ``message`` a translatable id with ``params``; ``column`` the
    header as the file writes it (None: the whole row or file)."""

    row: int
    column: str | None
    message: str
    params: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "message": self.message, "params": dict(self.params)}


@dataclass
class RosterRow:
    row: int
    name: str
    phone: str | None = None
    grid: str | None = None
    building: str | None = None
    unit: str | None = None
    room: str | None = None
    household: str | None = None
    same_household: str | None = None
    roles: list[str] = field(default_factory=list)
    note: str | None = None


@dataclass
class Roster:
    rows: list[RosterRow] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    #: "utf-8", "gb18030" (CSV) or "xlsx"
    encoding: str = ""
    #: column key → the header as written in the file
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


class _Formula:
    """A cell that held a formula."""


FORMULA = _Formula()


def read_roster(data: bytes, filename: str = "") -> Roster:
    """Parse a roster from the bytes of a CSV or XLSX file (told apart by content; the
    name only helps the message for an old .xls)."""
    if not data or not data.strip():
        return Roster(problems=[Problem(0, None, N_("The file is empty."))])
    if data[:4] == b"PK\x03\x04" or filename.lower().endswith((".xlsx", ".xlsm")):
        roster = _from_records(*_xlsx_records(data))
        roster.encoding = "xlsx"
        return roster
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" or filename.lower().endswith(".xls"):
        return Roster(problems=[Problem(0, None, N_(
            "Old Excel files (.xls) cannot be read. Save the sheet as .xlsx or as CSV UTF-8."))])
    return _csv(data)


# -- CSV ------------------------------------------------------------------------------------

def _csv(data: bytes) -> Roster:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text, encoding = data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        try:
            text, encoding = data.decode("gb18030"), "gb18030"
        except UnicodeDecodeError:
            return Roster(problems=[Problem(0, None, N_(
                "The file is not UTF-8 text and not GBK either. Save it as CSV UTF-8 or as .xlsx."))])
    if "\x00" in text:
        return Roster(problems=[Problem(0, None, N_(
            "The file is not a CSV text file. Upload a .csv or .xlsx roster."))])
    first_line = text.split("\n", 1)[0]
    delimiter = max(",\t;，", key=first_line.count) if first_line else ","
    if delimiter == "，":  # a full-width comma is not a CSV separator
        delimiter = ","
    records = [(number, list(cells)) for number, cells in enumerate(
        csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), start=1)]
    roster = _from_records(records, [])
    if encoding == "gb18030":
        if "name" not in roster.headers:
            # a header that does not read once decoded: not GBK, whatever it is
            return Roster(problems=[Problem(0, None, N_(
                "The file is not UTF-8 text and not GBK either. Save it as CSV UTF-8 or as .xlsx."))])
    roster.encoding = encoding
    return roster


# -- XLSX -----------------------------------------------------------------------------------

def _xlsx_records(data: bytes) -> tuple[list[tuple[int, list[Any]]], list[Problem]]:
    from openpyxl import load_workbook

    damaged = Problem(0, None, N_("The spreadsheet cannot be read: it is damaged or not an .xlsx file."))
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except Exception:  # openpyxl raises zipfile, KeyError, XML and its own errors on a bad file
        return [], [damaged]
    try:
        sheet = workbook.worksheets[0]
        records: list[tuple[int, list[Any]]] = []
        for number, cells in enumerate(sheet.iter_rows(), start=1):
            values: list[Any] = []
            for cell in cells:
                if getattr(cell, "data_type", None) == "f":
                    values.append(FORMULA)
                else:
                    values.append(getattr(cell, "value", None))
            records.append((number, values))
        return records, []
    except (zipfile.BadZipFile, OSError, EOFError, KeyError, ValueError, IndexError, TypeError,
            SyntaxError):  # a truncated archive fails while the rows are read
        return [], [damaged]
    except Exception:  # lxml / ElementTree parse errors on a cut-off sheet
        return [], [damaged]
    finally:
        workbook.close()


# -- rows -----------------------------------------------------------------------------------

def _cell_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, (datetime, date)):
        value = value.isoformat()
    # NFKC: full-width digits and letters as typed on Chinese keyboards ("９栋", "Ａ座") read as
    # their ASCII forms, so "９栋" and "9栋" are one building; the ideographic space is a space
    text = unicodedata.normalize("NFKC", str(value)).strip()
    return text or None


def _header_key(value: Any) -> str | None:
    text = _cell_text(value) if value is not FORMULA else None
    if text is None:
        return None
    return _HEADER_INDEX.get(_HEADER_NOISE.sub("", text.lstrip("\ufeff")).lower())


def _from_records(records: Iterable[tuple[int, list[Any]]], problems: list[Problem]) -> Roster:
    roster = Roster(problems=list(problems))
    if problems:
        return roster
    header: list[str | None] | None = None
    seen_data = False
    first_line, skipped = 0, 0
    for number, values in records:
        if all(v is None or (v is not FORMULA and _cell_text(v) is None) for v in values):
            continue
        if header is None:
            keys = [_header_key(v) for v in values]
            if "name" not in keys:
                # a title above the header ("涂新社区居民名册", a date line) is skipped, a few rows at most
                first_line = first_line or number
                skipped += 1
                if skipped < HEADER_SEARCH_ROWS:
                    continue
                roster.problems.append(Problem(first_line, None, N_(
                    "The header row has no name column (姓名 or name). The first row of the file must name "
                    "the columns.")))
                return roster
            header = keys
            for index, key in enumerate(header):
                if key is None:
                    continue
                if key in roster.headers:  # the same column twice: the first one counts
                    header[index] = None
                    continue
                roster.headers[key] = _cell_text(values[index]) or key
            continue
        seen_data = True
        row = _row(roster, number, header, values)
        if row is not None:
            roster.rows.append(row)
    if header is None and skipped:
        roster.problems.append(Problem(first_line, None, N_(
            "The header row has no name column (姓名 or name). The first row of the file must name the columns.")))
    elif header is None:
        roster.problems.append(Problem(0, None, N_("The file is empty.")))
    elif not seen_data:
        roster.problems.append(Problem(0, None, N_("The file has a header but no residents below it.")))
    else:
        _check_across_rows(roster)
    return roster


def _row(roster: Roster, number: int, header: list[str | None], values: list[Any]) -> RosterRow | None:
    cells: dict[str, str | None] = {}
    bad = False
    for index, key in enumerate(header):
        if key is None:
            continue
        value = values[index] if index < len(values) else None
        if value is FORMULA:
            roster.problems.append(Problem(number, roster.headers[key], N_(
                "This cell holds a formula. Copy the column and paste it back as values.")))
            bad = True
            continue
        text = _cell_text(value)
        if text is not None and text.startswith("="):
            roster.problems.append(Problem(number, roster.headers[key], N_(
                "This cell holds a formula. Copy the column and paste it back as values.")))
            bad = True
            continue
        if text is not None and len(text) > LIMITS[key]:
            roster.problems.append(Problem(number, roster.headers[key], N_(
                "Too long: at most %(limit)s characters."), {"limit": LIMITS[key]}))
            bad = True
            continue
        cells[key] = text
    if bad:
        return None
    name = cells.get("name")
    if not name:
        roster.problems.append(Problem(number, roster.headers["name"], N_("The name is missing.")))
        return None
    row = RosterRow(row=number, name=name, grid=cells.get("grid"), building=cells.get("building"),
                    unit=cells.get("unit"), room=cells.get("room"), household=cells.get("household"),
                    same_household=cells.get("same_household"), note=cells.get("note"))
    ok = True
    if cells.get("phone"):
        row.phone = normalise_phone(cells["phone"])
        if row.phone is None:
            roster.problems.append(Problem(number, roster.headers["phone"], N_(
                "%(value)s is not a phone number (a mobile has 11 digits, a landline its area code)."),
                {"value": cells["phone"]}))
            ok = False
    words: list[str] = []
    for chunk in _ROLE_SPLIT.split(cells.get("role") or ""):
        # "building head" is one role; "网格长 居民" two
        if chunk.strip() and ROLE_WORDS.get(_SPACE.sub("", chunk.lower())) is None:
            words += chunk.split()
        elif chunk.strip():
            words.append(chunk)
    for word in words:
        role = ROLE_WORDS.get(_SPACE.sub("", word.lower()))
        if role is None:
            roster.problems.append(Problem(number, roster.headers["role"], N_(
                "Unknown role %(role)s. Use 居民, 网格长, 楼栋长, 单元长, 主持人, 议事协调员, 职能部门 or 管理员."),
                {"role": word}))
            ok = False
        elif role not in row.roles:
            row.roles.append(role)
    # everyone who lives somewhere is a resident there, whatever else they are
    if "resident" not in row.roles and (not row.roles or row.grid or row.building):
        row.roles.insert(0, "resident")
    if row.unit and not row.building:
        roster.problems.append(Problem(number, roster.headers["unit"], N_(
            "Unit %(unit)s is in no building: fill in its building."), {"unit": row.unit}))
        ok = False
    for role in row.roles:
        needed = ROLE_PLACE.get(role)
        if needed and not getattr(row, needed):
            roster.problems.append(Problem(number, roster.headers.get(needed) or roster.headers.get("role"),
                                           ROLE_PLACE_MISSING[role]))
            ok = False
    if row.household and row.same_household:
        roster.problems.append(Problem(number, roster.headers["same_household"], N_(
            "Give either a household number or \"same household as\", not both.")))
        ok = False
    return row if ok else None


def _check_across_rows(roster: Roster) -> None:
    """Duplicates, phones shared by two names, "same household as" a name not in the
    file, a building placed in a grid on one row and in none (or another) on another."""
    first_by_person: dict[tuple[str, str | None, str | None, str | None, str | None], int] = {}
    first_by_phone: dict[str, RosterRow] = {}
    names: dict[str, list[RosterRow]] = {}
    bad: set[int] = set()
    for row in roster.rows:
        names.setdefault(row.name, []).append(row)
    for row in roster.rows:
        where = None if row.phone else (row.building, row.unit, row.room or row.household)
        key = (row.name, row.phone, *(where or (None, None, None)))
        if key in first_by_person:
            roster.problems.append(Problem(row.row, None, N_("This row repeats row %(other)s."),
                                           {"other": first_by_person[key]}))
            bad.add(row.row)
            continue
        first_by_person[key] = row.row
        if row.phone:
            other = first_by_phone.get(row.phone)
            if other is not None and other.name != row.name:
                roster.problems.append(Problem(row.row, roster.headers.get("phone"), N_(
                    "Row %(other)s has the same phone number for %(name)s. A phone number identifies one "
                    "person: leave it empty for one of them."), {"other": other.row, "name": other.name}))
                bad.add(row.row)
                continue
            first_by_phone.setdefault(row.phone, row)
        if row.same_household:
            targets = [r for r in names.get(row.same_household, []) if r is not row]
            if not targets:
                roster.problems.append(Problem(row.row, roster.headers["same_household"], N_(
                    "%(name)s is not in the file, so this row cannot join their household."),
                    {"name": row.same_household}))
                bad.add(row.row)
            elif len(targets) > 1:
                roster.problems.append(Problem(row.row, roster.headers["same_household"], N_(
                    "Several rows are called %(name)s: use household numbers (户号) instead."),
                    {"name": row.same_household}))
                bad.add(row.row)
    # a building named with its grid on some rows must name the same grid on all of them
    grid_of: dict[str, tuple[str, int]] = {}
    for row in roster.rows:
        if row.building and row.grid:
            grid_of.setdefault(row.building, (row.grid, row.row))
    if "grid" in roster.headers:
        for row in roster.rows:
            if not row.building or row.row in bad:
                continue
            known = grid_of.get(row.building)
            if known is not None and row.grid is None:
                roster.problems.append(Problem(row.row, roster.headers["grid"], N_(
                    "Building %(building)s has no grid on this row, but row %(other)s puts it in grid "
                    "%(grid)s."), {"building": row.building, "other": known[1], "grid": known[0]}))
                bad.add(row.row)
    if bad:
        roster.rows = [r for r in roster.rows if r.row not in bad]
    roster.problems.sort(key=lambda p: p.row)

"""Roster import: the file reader (bad rows, encodings, XLSX formulas and damage), the
import service on SQLite and PostgreSQL (nothing written for a bad file, dry run, re-import,
changed file, members missing from it), and finding members by pinyin.

Messages are checked here by message id; tests/web/test_cli.py checks the same reasons
as a user reads them, in zh_CN and in English."""

from __future__ import annotations

import io
from datetime import datetime, timezone

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from core.db import Base, make_engine, make_sessionmaker, session_scope
from core.models import AuditLog, Community, Household, Member, Place, RoleAssignment
from core.people import mask_phone, normalise_phone
from core.roster import read_roster
from core.services import communities as cs
from core.services import people
from core.services.roster import import_roster

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)
HEADER = "姓名,手机号,网格,楼栋,单元,房号,户号,同户,角色,备注\n"
GOOD = HEADER + (
    "张三,13812341234,东片网格,9栋,1单元,101,0101,,楼栋长,\n"
    "李四,,东片网格,9栋,1单元,101,,张三,,\n"
    "王五,13912345678,东片网格,10栋,,201,,,网格长,\n"
    "赵六,,西片网格,1栋,2单元,301,,,,腿脚不便\n"
)


def csv_bytes(text: str, encoding: str = "utf-8") -> bytes:
    return text.encode(encoding)


def xlsx_bytes(rows: list[list]) -> bytes:
    wb = Workbook()
    ws = wb.active
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def factory(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'roster.db'}" if request.param == "sqlite" else \
        request.getfixturevalue("fresh_postgres")
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def community_id(factory) -> int:
    with session_scope(factory) as db:
        c = cs.create_community(db, slug="tuxin", names={"zh_CN": "涂新社区", "en": "Tuxin"})
        street = cs.add_place(db, actor=None, community=c, kind="street", name="金盆岭街道")
        cs.add_place(db, actor=None, community=c, kind="community", name="涂新社区", parent=street)
        cs.add_member(db, actor=None, community=c, display_name="书记", username="tx-admin",
                      roles=[("admin", None)])
        return c.id


def run(factory, community_id, data: bytes, *, dry_run: bool = False, filename: str = "roster.csv"):
    with session_scope(factory) as db:
        community = db.get(Community, community_id)
        return import_roster(db, actor=None, community=community, roster=read_roster(data, filename),
                             dry_run=dry_run, now=NOW, source=filename)


def counts(factory) -> dict[str, int]:
    with session_scope(factory) as db:
        return {model.__tablename__: db.scalar(select(func.count()).select_from(model))
                for model in (Member, Place, Household, RoleAssignment, AuditLog)}


# -- the reader: one bad row of each kind -----------------------------------------------------

BAD_ROWS = [
    # (file body after the header, row, column, message id start)
    (",13812341234,东片网格,9栋,,,,,,\n", 2, "姓名", "The name is missing."),
    ("张三,12345,东片网格,9栋,,,,,,\n", 2, "手机号", "%(value)s is not a phone number"),
    ("张三,13812341234,东片网格,9栋,,,,,队长,\n", 2, "角色", "Unknown role %(role)s."),
    ("张三,13812341234,东片网格,9栋,,,,,,\n张三,13812341234,东片网格,9栋,,,,,,\n", 3, None,
     "This row repeats row %(other)s."),
    ("张三,13812341234,东片网格,9栋,,,,,,\n李四,13812341234,东片网格,9栋,,,,,,\n", 3, "手机号",
     "Row %(other)s has the same phone number"),
    ("张三,13812341234,东片网格,,1单元,,,,,\n", 2, "单元", "Unit %(unit)s is in no building"),
    ("张三,13812341234,东片网格,9栋,,,,,,\n李四,13912345678,,9栋,,,,,,\n", 3, "网格",
     "Building %(building)s has no grid on this row"),
    ("李四,,东片网格,9栋,,,,王大妈,,\n", 2, "同户", "%(name)s is not in the file"),
    ("张三,13812341234,,,,,,,网格长,\n", 2, "网格", "A grid head needs their grid"),
    ("张三,13812341234,东片网格,9栋,,,0101,李四,,\n李四,,东片网格,9栋,,,,,,\n", 2, "同户",
     "Give either a household number"),
    ("张" * 81 + ",,,,,,,,,\n", 2, "姓名", "Too long"),
]


@pytest.mark.parametrize("body,row,column,message", BAD_ROWS)
def test_each_kind_of_bad_row_is_reported_with_its_row_and_column(body, row, column, message):
    roster = read_roster(csv_bytes(HEADER + body))
    assert [(p.row, p.column) for p in roster.problems] == [(row, column)]
    assert roster.problems[0].message.startswith(message)


@pytest.mark.parametrize("data,message", [
    (b"", "The file is empty."),
    (b"\n\n  \n", "The file is empty."),
    (csv_bytes(HEADER), "The file has a header but no residents below it."),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "Old Excel files (.xls)"),
    (bytes(range(128, 256)) * 4, "The file is not UTF-8 text and not GBK either."),
])
def test_file_level_problems_are_row_0(data, message):
    roster = read_roster(data)
    assert [p.row for p in roster.problems] == [0]
    assert roster.problems[0].message.startswith(message)


def test_a_file_without_a_name_column_is_refused_at_its_header_row():
    roster = read_roster(csv_bytes("\n电话,楼栋\n13812341234,9栋\n"))
    assert [(p.row, p.message[:26]) for p in roster.problems] == [(2, "The header row has no name")]
    assert roster.rows == []


def test_english_headers_bom_and_role_words():
    data = b"\xef\xbb\xbf" + csv_bytes("Name,Phone,Grid,Building,Unit,Room,Role\n"
                                       "Anna Li,138 1234 1234,East,B9,U1,101,building head\n"
                                       "王阿婆,,East,B9,U1,102,\n")
    roster = read_roster(data)
    assert roster.ok and roster.encoding == "utf-8"
    anna, gran = roster.rows
    assert (anna.phone, anna.roles) == ("+8613812341234", ["resident", "building_head"])
    assert (gran.name, gran.unit, gran.roles) == ("王阿婆", "U1", ["resident"])


def test_gbk_csv_is_decoded_and_says_so():
    roster = read_roster(csv_bytes(GOOD, "gbk"))
    assert roster.ok, roster.problems
    assert roster.encoding == "gb18030"
    assert [r.name for r in roster.rows] == ["张三", "李四", "王五", "赵六"]
    assert roster.rows[3].note == "腿脚不便"


def test_xlsx_formula_is_a_bad_row_and_not_evaluated():
    data = xlsx_bytes([["姓名", "手机号", "楼栋"], ["张三", "13812341234", "9栋"],
                       ["李四", '="139"&"12345678"', "9栋"]])
    roster = read_roster(data, "roster.xlsx")
    assert [(p.row, p.column, p.message[:27]) for p in roster.problems] == [
        (3, "手机号", "This cell holds a formula. ")]


@pytest.mark.parametrize("cut", [0.3, 0.6, 0.9])
def test_truncated_xlsx_is_refused_as_damaged(cut):
    data = xlsx_bytes([["姓名", "楼栋"]] + [[f"居民{i}", "9栋"] for i in range(200)])
    roster = read_roster(data[: int(len(data) * cut)], "roster.xlsx")
    assert [(p.row, p.message) for p in roster.problems] == [
        (0, "The spreadsheet cannot be read: it is damaged or not an .xlsx file.")]


def test_phones_are_stored_in_e164_and_masked_for_display():
    assert normalise_phone("138-1234-1234") == "+8613812341234"
    assert normalise_phone("0731 8555 1234") == "+8673185551234"
    assert normalise_phone("1381234123") is None
    assert mask_phone("+8613812341234") == "138****1234"


# -- the import service ------------------------------------------------------------------------

def test_import_builds_places_households_and_roles(factory, community_id):
    result = run(factory, community_id, csv_bytes(GOOD))
    assert result.applied and result.ok
    assert result.members == {"created": 4, "updated": 0, "unchanged": 0}
    assert result.places == {"created": 7, "matched": 0}  # 2 grids, 3 buildings, 2 units
    assert result.households["created"] == 3
    with session_scope(factory) as db:
        by_name = {m.display_name: m for m in db.scalars(select(Member))}
        zhang, li, wang, zhao = (by_name[n] for n in ("张三", "李四", "王五", "赵六"))
        assert zhang.household_id == li.household_id != zhao.household_id
        household = db.get(Household, zhang.household_id)
        assert (household.number, household.representative_id) == ("0101", zhang.id)
        unit = db.get(Place, zhang.place_id)
        assert [p.name for p in cs.ancestors(db, unit)] == ["金盆岭街道", "涂新社区", "东片网格", "9栋"]
        building = db.get(Place, unit.parent_id)
        roles = {(r.role, r.place_id) for r in zhang.roles}
        assert roles == {("resident", unit.id), ("building_head", building.id)}
        assert {(r.role, db.get(Place, r.place_id).kind) for r in wang.roles} == {("resident", "building"),
                                                                                  ("grid_head", "grid")}
        assert zhang.phone == "+8613812341234" and zhang.room == "101" and zhao.note == "腿脚不便"
        entry = db.scalar(select(AuditLog).where(AuditLog.action == "roster.import"))
        assert entry.details["members"]["created"] == 4 and "13812341234" not in str(entry.details)


def test_a_bad_row_writes_nothing(factory, community_id):
    before = counts(factory)
    result = run(factory, community_id, csv_bytes(GOOD + "孙七,110,东片网格,9栋,,,,,,\n"))
    assert not result.applied
    assert [(p.row, p.column) for p in result.problems] == [(6, "手机号")]
    assert counts(factory) == before


def test_dry_run_reports_the_same_plan_and_writes_nothing(factory, community_id):
    before = counts(factory)
    preview = run(factory, community_id, csv_bytes(GOOD), dry_run=True)
    assert counts(factory) == before
    assert not preview.applied
    real = run(factory, community_id, csv_bytes(GOOD))
    assert (preview.members, preview.places, preview.households, preview.roles) == \
        (real.members, real.places, real.households, real.roles)


def test_reimport_of_the_same_file_changes_nothing(factory, community_id):
    run(factory, community_id, csv_bytes(GOOD))
    before = counts(factory)
    again = run(factory, community_id, csv_bytes(GOOD))
    assert again.members == {"created": 0, "updated": 0, "unchanged": 4}
    assert (again.places["created"], again.households["created"], again.roles["granted"]) == (0, 0, 0)
    after = counts(factory)
    assert after["audit_log"] == before["audit_log"] + 1  # the import itself is recorded
    assert {k: v for k, v in after.items() if k != "audit_log"} == \
        {k: v for k, v in before.items() if k != "audit_log"}


def test_a_changed_file_updates_and_lists_members_it_no_longer_names(factory, community_id):
    run(factory, community_id, csv_bytes(GOOD))
    changed = HEADER + (
        "张三丰,13812341234,东片网格,9栋,1单元,102,0101,,楼栋长,\n"  # renamed, moved room
        "李四,,东片网格,9栋,1单元,101,,张三丰,,\n"
        "王五,13912345678,东片网格,10栋,,201,,,网格长,\n"
    )  # 赵六 has left
    result = run(factory, community_id, csv_bytes(changed))
    assert result.members == {"created": 0, "updated": 1, "unchanged": 2}
    assert [m["name"] for m in result.missing] == ["赵六"]  # the admin (书记) is staff, not listed
    with session_scope(factory) as db:
        zhao = db.scalar(select(Member).where(Member.display_name == "赵六"))
        assert zhao.active  # listed for deactivation, never deactivated by the import
        zhang = db.scalar(select(Member).where(Member.phone == "+8613812341234"))
        assert (zhang.display_name, zhang.room) == ("张三丰", "102")
        assert [m.display_name for m in people.find_members(db, community=db.get(Community, community_id),
                                                           query="zsf")] == ["张三丰"]


def test_a_building_named_without_its_grid_must_be_unambiguous(factory, community_id):
    run(factory, community_id, csv_bytes(HEADER + "张三,13812341234,东片网格,1栋,,,,,,\n"
                                                  "王五,13912345678,西片网格,1栋,,,,,,\n"))
    result = run(factory, community_id, csv_bytes("姓名,楼栋\n李四,1栋\n"))
    assert [(p.row, p.column, p.message) for p in result.problems] == [
        (2, "楼栋", "Several buildings are called %(building)s: name its grid.")]
    result = run(factory, community_id, csv_bytes(HEADER + "李四,,,8栋,,,,,,\n"))
    assert [(p.row, p.column) for p in result.problems] == [(2, "网格")]


def test_a_300_row_xlsx_roster(factory, community_id):
    rows = [["姓名", "电话", "网格", "楼栋", "单元", "门牌号", "户号", "角色"]]
    for i in range(300):
        home = i // 2  # two people a household
        grid, building, unit = f"第{home % 3 + 1}网格", f"{home % 12 + 1}栋", f"{home // 12 % 2 + 1}单元"
        role = "楼栋长" if i < 24 and i % 2 == 0 else "居民"  # one head a building
        rows.append([f"居民{i:03d}", 13800000000 + i, grid, building, unit, f"{home + 101}", f"{home:04d}", role])
    data = xlsx_bytes(rows)
    result = run(factory, community_id, data, filename="roster.xlsx")
    assert result.ok, result.problems[:3]
    assert result.encoding == "xlsx"
    assert result.members["created"] == 300
    assert result.households["created"] == 150
    assert result.roles["granted"] == 312
    again = run(factory, community_id, data, filename="roster.xlsx")
    assert again.members == {"created": 0, "updated": 0, "unchanged": 300}


def test_find_members_by_name_pinyin_initials_phone_tail_and_place(factory, community_id):
    run(factory, community_id, csv_bytes(GOOD))
    with session_scope(factory) as db:
        c = db.get(Community, community_id)

        def names(query):
            return [m.display_name for m in people.find_members(db, community=c, query=query)]

        assert names("张三") == ["张三"]
        assert names("zhang san") == names("zhangsan") == names("ZS") == ["张三"]
        assert names("1234") == ["张三"]  # phone tail
        assert names("5678") == ["王五"]
        assert names("9栋") == ["李四", "张三"]  # sorted by pinyin: li si < zhang san
        assert names("西片") == ["赵六"]
        assert names("") == [] and names("%") == []
        assert db.scalar(select(Member.name_pinyin).where(Member.display_name == "赵六")) == "zhao liu"


def test_same_household_chains_and_cycles_make_one_household_and_reimport_keeps_it(factory, community_id):
    text = HEADER + (
        "钱师傅,,第一网格,9栋,1单元,502,,孙阿姨,,\n"  # a cycle: 钱 → 孙 → 钱
        "孙阿姨,,第一网格,9栋,1单元,502,,钱师傅,,\n"
        "钱小宝,,第一网格,9栋,1单元,502,,孙阿姨,,\n"  # a chain onto it
        "李大爷,,第一网格,9栋,1单元,502,,,,\n"  # the same room: the same household
    )
    first = run(factory, community_id, csv_bytes(text))
    assert first.households == {"created": 1, "matched": 0}
    with session_scope(factory) as db:
        households = {m.household_id for m in db.scalars(select(Member).where(Member.household_id.is_not(None)))}
        assert len(households) == 1
    again = run(factory, community_id, csv_bytes(text))
    assert again.members == {"created": 0, "updated": 0, "unchanged": 4}
    assert again.households == {"created": 0, "matched": 1}


def test_only_an_admin_of_the_community_imports(factory, community_id):
    from core.errors import Forbidden

    run(factory, community_id, csv_bytes(GOOD))
    with session_scope(factory) as db:
        community = db.get(Community, community_id)
        head = db.scalar(select(Member).where(Member.display_name == "王五"))  # a grid head
        admin = db.scalar(select(Member).where(Member.username == "tx-admin"))
        with pytest.raises(Forbidden):
            import_roster(db, actor=head, community=community, roster=read_roster(csv_bytes(GOOD)), now=NOW)
        result = import_roster(db, actor=admin, community=community, roster=read_roster(csv_bytes(GOOD)), now=NOW)
        assert result.applied
        entry = db.scalar(select(AuditLog).where(AuditLog.actor_id == admin.id))
        assert (entry.action, entry.actor_name) == ("roster.import", "书记")


def test_the_caller_owns_the_commit(factory, community_id):
    """The import flushes inside the caller's transaction: a rollback undoes all of it
    (on SQLite its savepoint must not be the transaction itself)."""
    before = counts(factory)
    db = factory()
    try:
        result = import_roster(db, actor=None, community=db.get(Community, community_id),
                               roster=read_roster(csv_bytes(GOOD)), now=NOW)
        assert result.applied
        db.rollback()
    finally:
        db.close()
    assert counts(factory) == before


def test_a_title_above_the_header_is_skipped_and_rows_keep_their_sheet_numbers():
    data = xlsx_bytes([["涂新社区居民名册"], ["2026年3月"], ["姓名", "楼栋"], ["赵奶奶", "9栋"], [None, "9栋"]])
    roster = read_roster(data, "roster.xlsx")
    assert [r.name for r in roster.rows] == ["赵奶奶"]
    assert [(p.row, p.column) for p in roster.problems] == [(5, "姓名")]
    five_titles = "\n".join(["名册"] * 5) + "\n姓名\n赵奶奶\n"
    assert [p.row for p in read_roster(csv_bytes(five_titles)).problems] == [1]


def test_deactivation_keeps_the_record_is_recorded_and_can_be_undone(factory, community_id):
    from core.errors import Forbidden, Invalid

    run(factory, community_id, csv_bytes(GOOD))
    with session_scope(factory) as db:
        community = db.get(Community, community_id)
        zhao = db.scalar(select(Member).where(Member.display_name == "赵六"))
        head = db.scalar(select(Member).where(Member.display_name == "王五"))
        with pytest.raises(Forbidden):
            people.deactivate_member(db, actor=head, member=zhao, reason="搬走了", now=NOW)
        with pytest.raises(Invalid):
            people.deactivate_member(db, actor=None, member=zhao, reason=" ", now=NOW)
        people.deactivate_member(db, actor=None, member=zhao, reason="搬走了", now=NOW)
        assert (zhao.active, zhao.deactivated_at, zhao.deactivation_reason) == (False, NOW, "搬走了")
        assert people.find_members(db, community=community, query="zl") == []
        assert people.find_members(db, community=community, query="zl", include_inactive=True) == [zhao]
    # a re-import does not bring them back, nor list them as missing
    again = run(factory, community_id, csv_bytes(GOOD.replace("赵六,,西片网格,1栋,2单元,301,,,,腿脚不便\n", "")))
    assert again.missing == []
    with session_scope(factory) as db:
        zhao = db.scalar(select(Member).where(Member.display_name == "赵六"))
        people.reactivate_member(db, actor=None, member=zhao, now=NOW)
        assert zhao.active and zhao.deactivation_reason is None
        actions = [e.action for e in db.scalars(select(AuditLog).order_by(AuditLog.id))]
        assert [a for a in actions if a.startswith("member.")] == ["member.deactivate", "member.reactivate"]


def test_full_width_digits_name_the_same_building():
    roster = read_roster(csv_bytes("姓名,手机号,楼栋\n张三,１３８１２３４１２３４,９栋\n李四,,9栋\n"))
    assert roster.ok
    assert [(r.phone, r.building) for r in roster.rows] == [("+8613812341234", "9栋"), (None, "9栋")]

"""The `courtyard` command: migrations, the demo (idempotent), plugins list."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from web.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("COURTYARD_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("COURTYARD_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("COURTYARD_SECRET_KEY", "cli-test")
    monkeypatch.setenv("COURTYARD_PLUGIN_ENTRYPOINTS", "0")
    return tmp_path


def test_upgrade_then_demo_twice_changes_nothing(env):
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    first = runner.invoke(main, ["demo", "--json"])
    assert first.exit_code == 0, first.output
    info = json.loads(first.output)
    assert [c["name"] for c in info["communities"]] == ["人福村", "涂新社区"]
    live = [s for s in info["sessions"] if s["status"] == "live"]
    assert live and live[0]["join_url"].endswith("/j/" + live[0]["join_code"])
    assert all(s["join_code"] and len(s["join_code"]) == 8 for s in info["sessions"])
    second = json.loads(runner.invoke(main, ["demo", "--json"]).output)
    assert [s["id"] for s in second["sessions"]] == [s["id"] for s in info["sessions"]]
    assert len(second["logins"]) == len(info["logins"])
    resident = next(x for x in info["logins"] if x["name"] == "王阿婆")
    assert "/s/" in resident["sign_in_url"]
    plain = runner.invoke(main, ["demo"])
    assert "courtyard-demo" in plain.output and "http://127.0.0.1:5000/c/renfu" in plain.output


def test_plugins_list_names_builtins_and_hooks(env):
    runner = CliRunner()
    runner.invoke(main, ["db", "upgrade"])
    runner.invoke(main, ["demo"])
    result = runner.invoke(main, ["plugins", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert rows["formats"]["kind"] == "built-in"
    assert "courtyard_register_formats" in rows["formats"]["hooks"]
    assert rows["categories"]["enabled_in"] == ["renfu", "tuxin"]


def test_serve_refuses_bad_settings(env, monkeypatch):
    """More cases, one per problem, in tests/web/test_server.py."""
    monkeypatch.setenv("COURTYARD_DATABASE_URL", "not a url")
    result = CliRunner().invoke(main, ["serve", "--port", "5999"])
    assert result.exit_code == 2 and "COURTYARD_DATABASE_URL" in result.output
    monkeypatch.setenv("COURTYARD_DATABASE_URL", f"sqlite:///{env / 'x.db'}")
    result = CliRunner().invoke(main, ["serve", "--port", "5999", "--workers", "2"])
    assert result.exit_code == 2 and "use --processes 2" in result.output
    result = CliRunner().invoke(main, ["serve", "--port", "5999", "--processes", "2"])
    assert result.exit_code == 2 and "needs COURTYARD_MESSAGE_QUEUE" in result.output
    monkeypatch.setenv("COURTYARD_MESSAGE_QUEUE", "redis://127.0.0.1:1/0")
    result = CliRunner().invoke(main, ["serve", "--port", "5999"])
    assert result.exit_code == 2 and "cannot reach Redis" in result.output


def test_core_never_imports_the_web_layer():
    forbidden = {"flask", "flask_socketio", "marshmallow", "flask_babel", "flask_login", "flask_wtf", "web", "plugins"}
    offenders = []
    for path in (ROOT / "core").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in forbidden]
    assert offenders == []


def test_courtyard_tally_command(tmp_path):
    ballots = tmp_path / "ballots.json"
    ballots.write_text(json.dumps({"options": ["修路", "装路灯", "建广场"],
                                   "ballots": [["修路", "装路灯"], ["装路灯"], ["建广场", "修路"], ["修路"]],
                                   "counts": [3, 2, 2, 1]}, ensure_ascii=False), encoding="utf-8")
    result = CliRunner().invoke(main, ["tally", "--method", "irv", str(ballots)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["winners"] == ["修路"]
    bad = tmp_path / "bad.json"
    bad.write_text('{"options": ["a"], "ballots": [["b"]]}')
    result = CliRunner().invoke(main, ["tally", "--method", "irv", str(bad)])
    assert result.exit_code == 2 and "ballots[0]" in result.output


# -- courtyard community create / members import ------------------------------------------------

def _session(env):
    from core.db import make_engine, make_sessionmaker

    return make_sessionmaker(make_engine(f"sqlite:///{env / 'cli.db'}"))


def test_community_create_prints_a_one_time_link_for_its_first_admin(env, monkeypatch):
    from sqlalchemy import select

    from core.db import session_scope
    from core.models import AuditLog, Community, Place
    from core.services.auth import redeem_sign_in_token

    runner = CliRunner()
    missing = runner.invoke(main, ["community", "create", "tuxin", "--name", "涂新社区", "--admin", "tx-admin",
                                   "--lang", "en"])
    assert missing.exit_code == 2
    assert "run `courtyard db upgrade` first" in missing.output and "Traceback" not in missing.output
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    monkeypatch.setenv("COURTYARD_PUBLIC_URL", "https://yishi.example.cn")
    result = runner.invoke(main, ["community", "create", "tuxin", "--name", "涂新社区", "--admin", "tx-admin",
                                  "--street", "金盆岭街道"])
    assert result.exit_code == 0, result.output
    assert "https://yishi.example.cn/c/tuxin" in result.output
    link = result.output.strip().splitlines()[-1]
    assert link.startswith("https://yishi.example.cn/s/")
    with session_scope(_session(env)) as db:
        admin = redeem_sign_in_token(db, token=link.rsplit("/", 1)[1])
        assert admin.username == "tx-admin" and admin.role_names() == {"admin"}
        community = db.scalar(select(Community).where(Community.slug == "tuxin"))
        assert [(p.kind, p.name) for p in db.scalars(select(Place).order_by(Place.id))] == [
            ("street", "金盆岭街道"), ("community", "涂新社区")]
        assert {e.action for e in db.scalars(select(AuditLog).where(AuditLog.community_id == community.id))} == {
            "community.create", "sign_in_link.issue"}
    taken = runner.invoke(main, ["community", "create", "tuxin", "--name", "涂新", "--admin", "other"])
    assert taken.exit_code == 2 and "这个地址已被占用" in taken.output and "Traceback" not in taken.output
    bad = runner.invoke(main, ["community", "create", "Tu_Xin", "--name", "涂新", "--admin", "other", "--lang", "en"])
    assert bad.exit_code == 2 and "lower-case letters, digits and hyphens" in bad.output
    user_taken = runner.invoke(main, ["community", "create", "tuxin2", "--name", "涂新", "--admin", "tx-admin",
                                      "--lang", "en"])
    assert user_taken.exit_code == 2 and "This user name is taken." in user_taken.output
    with session_scope(_session(env)) as db:  # the failed attempt left no community behind
        assert db.scalar(select(Community).where(Community.slug == "tuxin2")) is None


BAD_ROSTER = (
    "姓名,手机号,网格,楼栋,单元,房号,户号,同户,角色,备注\n"
    "张三,13812341234,东片网格,9栋,1单元,101,0101,,楼栋长,\n"
    ",13912340000,东片网格,9栋,1单元,102,,,,\n"
    "李四,1381234,东片网格,9栋,1单元,103,,,,\n"
    "王五,13912345678,东片网格,9栋,1单元,104,,,队长,\n"
    "张三,13812341234,东片网格,9栋,1单元,101,0101,,楼栋长,\n"
    "赵六,,东片网格,,2单元,105,,,,\n"
    "钱七,13712345678,,9栋,1单元,106,,,,\n"
    "孙八,,东片网格,9栋,1单元,107,,周九,,\n"
    "吴十,13812341234,东片网格,9栋,1单元,108,,,,\n"
    "郑一,13612345678,,,,,,,网格长,\n"
)
BAD_LINES = {
    "zh_CN": [
        "第 3 行，“姓名”列：没有填姓名。",
        "第 4 行，“手机号”列：“1381234”不是有效的电话号码（手机号是 11 位，座机要带区号）。",
        "第 5 行，“角色”列：不认识的角色“队长”。请填写：居民、网格长、楼栋长、单元长、主持人、议事协调员、职能部门或管理员。",
        "第 6 行：这一行和第 2 行重复了。",
        "第 7 行，“单元”列：单元“2单元”没有填楼栋：请填上它所在的楼栋。",
        "第 8 行，“网格”列：这一行的9栋没有填网格，但第 2 行写的是东片网格。",
        "第 9 行，“同户”列：名册里没有“周九”，这一行的“同户”对不上。",
        "第 10 行，“手机号”列：第 2 行的张三用的也是这个电话号码。一个号码只能对应一个人：请把其中一人的号码空着。",
        "第 11 行，“网格”列：网格长这一行要填写他负责的网格。",
    ],
    "en": [
        "Row 3, column 姓名: The name is missing.",
        "Row 4, column 手机号: 1381234 is not a phone number (a mobile has 11 digits, a landline its area code).",
        "Row 5, column 角色: Unknown role 队长. Use resident, grid head, building head, unit head, host, moderator, "
        "department or admin (or 居民, 网格长, 楼栋长, 单元长, 主持人, 议事协调员, 职能部门, 管理员).",
        "Row 6: This row repeats row 2.",
        "Row 7, column 单元: Unit 2单元 is in no building: fill in its building.",
        "Row 8, column 网格: Building 9栋 has no grid on this row, but row 2 puts it in grid 东片网格.",
        "Row 9, column 同户: 周九 is not in the file, so this row cannot join their household.",
        "Row 10, column 手机号: Row 2 has the same phone number for 张三. A phone number identifies one person: "
        "leave it empty for one of them.",
        "Row 11, column 网格: A grid head needs their grid on the same row.",
    ],
}


@pytest.fixture
def tuxin(env):
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    result = runner.invoke(main, ["community", "create", "tuxin", "--name", "涂新社区", "--admin", "tx-admin"])
    assert result.exit_code == 0, result.output
    return env


def _table_counts(env) -> dict:
    from sqlalchemy import func, select

    from core.db import session_scope
    from core.models import AuditLog, Household, Member, Place, RoleAssignment

    with session_scope(_session(env)) as db:
        return {m.__tablename__: db.scalar(select(func.count()).select_from(m))
                for m in (Member, Place, Household, RoleAssignment, AuditLog)}


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_members_import_names_every_bad_row_in_the_chosen_language_and_writes_nothing(tuxin, lang):
    path = tuxin / "名册.csv"
    path.write_text(BAD_ROSTER, encoding="utf-8")
    before = _table_counts(tuxin)
    result = CliRunner().invoke(main, ["members", "import", "tuxin", str(path), "--lang", lang])
    assert result.exit_code == 1, result.output
    lines = [line.strip() for line in result.output.splitlines()]
    assert lines[0] == {"zh_CN": "名册.csv：有 9 处错误，什么都没有导入。",
                        "en": "名册.csv: 9 bad rows; nothing was imported."}[lang]
    assert lines[1:] == BAD_LINES[lang]
    assert _table_counts(tuxin) == before


@pytest.mark.parametrize("name,make,zh,en", [
    ("empty.csv", lambda: b"", "文件：文件是空的。", "The file: The file is empty."),
    ("header.csv", lambda: "姓名,手机号\n".encode(), "文件：文件只有表头，下面没有居民。",
     "The file: The file has a header but no residents below it."),
    ("noname.csv", lambda: "电话,楼栋\n13812341234,9栋\n".encode(), "第 1 行：表头里没有“姓名”这一列。",
     "Row 1: The header row has no name column (姓名 or name)."),
    ("latin1.csv", lambda: "姓名\nJosé Müller\n".encode("utf-16"), "文件：文件的编码既不是 UTF-8 也不是 GBK",
     "The file: The file is not UTF-8 text and not GBK either."),
    ("old.xls", lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 64, "文件：读不了老版 Excel 文件（.xls）",
     "The file: Old Excel files (.xls) cannot be read."),
    ("cut.xlsx", lambda: _xlsx([["姓名"]] + [[f"居民{i}"] for i in range(100)])[:2000],
     "文件：表格打不开：文件已损坏，或者不是 .xlsx 文件。",
     "The file: The spreadsheet cannot be read: it is damaged or not an .xlsx file."),
    ("formula.xlsx", lambda: _xlsx([["姓名", "手机号"], ["张三", "=A1"]]),
     "第 2 行，“手机号”列：这一格是公式。请复制这一列，再“选择性粘贴—数值”粘回去。",
     "Row 2, column 手机号: This cell holds a formula. Copy the column and paste it back as values."),
])
def test_members_import_refuses_bad_files_in_both_languages(tuxin, name, make, zh, en):
    path = tuxin / name
    path.write_bytes(make())
    for lang, expected in (("zh_CN", zh), ("en", en)):
        result = CliRunner().invoke(main, ["members", "import", "tuxin", str(path), "--lang", lang])
        assert result.exit_code == 1, result.output
        assert result.output.splitlines()[1].strip().startswith(expected), result.output
        assert "Traceback" not in result.output


def _xlsx(rows):
    import io

    from openpyxl import Workbook

    wb = Workbook()
    for row in rows:
        wb.active.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def test_members_import_dry_run_json_then_import_then_reimport(tuxin):
    good = "\n".join(BAD_ROSTER.splitlines()[:2]) + "\n李四,,东片网格,9栋,1单元,101,,张三,,\n"
    path = tuxin / "roster.csv"
    path.write_bytes(good.encode("gbk"))  # as Excel saves it on a Chinese Windows
    runner = CliRunner()
    before = _table_counts(tuxin)
    preview = json.loads(runner.invoke(main, ["members", "import", "tuxin", str(path), "--dry-run",
                                              "--json"]).output)
    assert (preview["dry_run"], preview["applied"], preview["encoding"]) == (True, False, "gb18030")
    assert preview["members"] == {"created": 2, "updated": 0, "unchanged": 0}
    assert _table_counts(tuxin) == before
    done = runner.invoke(main, ["members", "import", "tuxin", str(path), "--lang", "en"])
    assert done.exit_code == 0, done.output
    assert "Members: 2 new, 0 updated, 0 unchanged." in done.output
    assert "Places: 3 new, 0 found." in done.output and "Households: 1 new, 0 found." in done.output
    again = runner.invoke(main, ["members", "import", "tuxin", str(path)])
    assert "居民：新增 0 人，更新 0 人，不变 2 人。" in again.output
    missing = runner.invoke(main, ["members", "import", "nowhere", str(path), "--lang", "en"])
    assert missing.exit_code == 2 and "No community nowhere." in missing.output


def test_demo_residents_come_from_the_shipped_rosters_through_the_import(env):
    from sqlalchemy import select

    from core.db import session_scope
    from core.models import AuditLog, Member

    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    assert runner.invoke(main, ["demo"]).exit_code == 0
    with session_scope(_session(env)) as db:
        imports = list(db.scalars(select(AuditLog).where(AuditLog.action == "roster.import")))
        assert sorted(e.target for e in imports) == ["roster_renfu.csv", "roster_tuxin.csv"]
        assert sorted(e.details["members"]["created"] for e in imports) == [4, 6]
        people = {m.display_name: m for m in db.scalars(select(Member))}
        assert people["孙阿姨"].household_id == people["钱师傅"].household_id is not None
        assert people["赵奶奶"].household_id != people["钱师傅"].household_id
        assert people["9栋楼栋长"].role_names() == {"resident", "building_head"}
    path = ROOT / "web" / "demo_data" / "roster_tuxin.csv"  # importing it again changes nothing
    again = runner.invoke(main, ["members", "import", "tuxin", str(path), "--json"])
    assert json.loads(again.output)["members"] == {"created": 0, "updated": 0, "unchanged": 4}

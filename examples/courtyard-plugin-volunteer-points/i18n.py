"""Maintainer script: refresh the plugin's catalogues (its own gettext domain) from the
sources and compile them. ``python i18n.py`` after changing a user-visible string; add
the Chinese in ZH below. The compiled ``.mo`` files are committed, and Courtyard also
compiles a missing or stale ``.mo`` when the app starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

HERE = Path(__file__).resolve().parent
DOMAIN = "courtyard_volunteer_points"
TRANSLATIONS = HERE / "courtyard_volunteer_points" / "translations"

ZH = {
    "%(count)s residents have signed up.": "已有 %(count)s 位居民报名。",
    "%(points)s points": "%(points)s 积分",
    "An issue you raised was resolved": "您反映的诉求已解决",
    "Confirm a service day that has come.": "只能确认已经到来的服务日。",
    "Confirm the service day of %(day)s": "确认 %(day)s 服务日已开展",
    "Exchange": "兑换",
    "Exchange points": "积分兑换",
    "Exchanged": "兑换",
    "Exchanged %(points)s points for: %(item)s": "已用 %(points)s 积分兑换：%(item)s",
    "Hosted a session": "主持议事会",
    "Leaderboard": "积分榜",
    "Monthly service day": "每月服务日",
    "My ledger": "我的积分明细",
    "No points yet: take part in a session or sign up for the service day.": "还没有积分：参加一次议事会或报名服务日吧。",
    "No such item.": "没有这个兑换项目。",
    "Not enough points for this item.": "积分不足，无法兑换该项目。",
    "Only staff can confirm a service day.": "只有社区工作人员可以确认服务日。",
    "Please try again.": "请重试。",
    "Points": "积分",
    "Service day": "服务日",
    "Service day confirmed: %(count)s residents earned points.": "服务日已确认：%(count)s 位居民获得积分。",
    "Sign up for a coming service day (the 28th).": "请报名即将到来的服务日（每月28日）。",
    "Sign up for the service day": "报名服务日",
    "The next service day is %(day)s.": "下一个服务日是 %(day)s。",
    "Took part in a session": "参加议事会",
    "Volunteer points": "志愿服务积分",
    "When": "时间",
    "Why": "事由",
    "You are signed up for the service day.": "您已报名服务日。",
    "You are signed up.": "您已报名。",
    "Your balance": "我的积分",
}


def main() -> int:
    pot = HERE / f"{DOMAIN}.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F", str(HERE / "babel.cfg"),
                    "-k", "_", "-k", "N_", "--no-location", "--sort-output", "-o", str(pot), str(HERE)],
                   check=True, cwd=HERE)
    with pot.open("rb") as fh:
        template = read_po(fh)
    missing = []
    for locale in ("zh_CN", "en"):
        with pot.open("rb") as fh:
            catalog = read_po(fh, locale=locale, domain=DOMAIN)
        catalog.fuzzy = False
        for message in catalog:
            if not message.id:
                continue
            message.string = ZH.get(message.id, "") if locale == "zh_CN" else message.id
            if not message.string:
                missing.append(message.id)
        out = TRANSLATIONS / locale / "LC_MESSAGES"
        out.mkdir(parents=True, exist_ok=True)
        with (out / f"{DOMAIN}.po").open("wb") as fh:
            write_po(fh, catalog, width=120, omit_header=False)
        with (out / f"{DOMAIN}.mo").open("wb") as fh:
            write_mo(fh, catalog)
    pot.unlink()
    del template
    for msgid in missing:
        print(f"missing zh_CN translation: {msgid!r}")
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main())

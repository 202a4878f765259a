"""Vote results as a section of a session's minutes (``courtyard_minutes_sections``).
The minutes are frozen when the session closes, so the text is written in the
community's language."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core.i18n import N_
from core.models import Community
from core.models.vote import Motion, MotionResult

TEXT = {
    "zh_CN": {"winner": "结果：{w}", "tie": "并列：{w}（按{rule}决出：{one}）", "none": "未形成决定",
              "turnout": "投票 {b} / {e} 人，法定人数 {q}（{met}）", "met": "已达到", "unmet": "未达到",
              "passed": "通过", "failed": "未通过", "secret": "无记名投票", "open": "记名投票", "rule": "平局规则"},
    "en": {"winner": "Result: {w}", "tie": "Tied: {w} ({one} by the {rule})", "none": "No decision",
           "turnout": "{b} of {e} voted, quorum {q} ({met})", "met": "met", "unmet": "not met",
           "passed": "carried", "failed": "not carried", "secret": "secret ballot", "open": "open ballot",
           "rule": "tie-break rule"},
}
YESNO = {"zh_CN": {"yes": "同意", "no": "反对", "abstain": "弃权"}, "en": {"yes": "yes", "no": "no", "abstain": "abstain"}}


def sections(session: Any, db: Any) -> list[dict[str, Any]] | None:
    motions = list(db.scalars(select(Motion).where(Motion.session_id == session.id, Motion.status == "closed")
                              .order_by(Motion.closed_at, Motion.id)))
    if not motions:
        return None
    community = db.get(Community, session.community_id)
    lang = "zh_CN" if (community.default_locale or "zh_CN").startswith("zh") else "en"
    t = TEXT[lang]
    rows = []
    for motion in motions:
        stored = db.get(MotionResult, motion.id)
        if stored is None:
            continue
        rows.append({"label": motion.title, "value": summary(motion, stored.result, lang)})
    return [{"key": "votes", "title": N_("Votes"), "rows": rows}] if rows else None


def summary(motion: Any, result: dict[str, Any], lang: str) -> str:
    t = TEXT[lang]
    name = (lambda o: YESNO[lang].get(o, o)) if motion.options == ["yes", "no", "abstain"] else (lambda o: o)
    winners = result.get("winners") or []
    if "passed" in result:
        head = t["passed"] if result.get("passed") else (t["failed"] if winners else t["none"])
        counts = result.get("counts") or {}
        head += " (" + ", ".join(f"{name(k)} {v}" for k, v in counts.items()) + ")"
    elif not winners:
        head = t["none"]
    elif len(winners) == 1:
        head = t["winner"].format(w=name(winners[0]))
    else:
        head = t["tie"].format(w="、".join(map(name, winners)) if lang == "zh_CN" else ", ".join(map(name, winners)),
                               one=name(result.get("winner") or ""), rule=t["rule"])
    turnout = result.get("turnout") or {}
    tail = t["turnout"].format(b=turnout.get("ballots", 0), e=turnout.get("eligible", 0), q=turnout.get("quorum", 0),
                               met=t["met"] if turnout.get("quorum_met") else t["unmet"])
    return f"{head}; {tail}; {t['secret'] if motion.secret else t['open']}" if lang == "en" else \
        f"{head}；{tail}；{t['secret'] if motion.secret else t['open']}"

"""The demo: 人福村 with its 海棠小院 courtyard tea talks and 涂新社区 with its 民声金话筒
forum, seeded once into an empty database (``courtyard demo``)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask
from sqlalchemy import select

from core.db import session_scope, utcnow
from core.models import Community, ConsultationSession, Member
from core.models.member import Role
from core.roster import read_roster
from core.services import auth as auth_service
from core.services import communities as cs
from core.services import sessions as ss
from core.services.roster import import_roster

DEMO_PASSWORD = "courtyard-demo"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _local(day: datetime, hour: int, minute: int = 0) -> datetime:
    return day.astimezone(SHANGHAI).replace(hour=hour, minute=minute, second=0, microsecond=0).astimezone(timezone.utc)


DEMO_DATA = Path(__file__).resolve().parent / "demo_data"


def _import_roster(db: Any, community: Community, filename: str, now: datetime) -> None:
    """Import a shipped roster with the service ``courtyard members import`` uses."""
    roster = read_roster((DEMO_DATA / filename).read_bytes(), filename)
    result = import_roster(db, actor=None, community=community, roster=roster, now=now, source=filename)
    if not result.applied:
        raise RuntimeError(f"demo roster {filename}: {[p.as_dict() for p in result.problems]}")


def _seed_renfu(db: Any, catalog: Any, now: datetime) -> None:
    c = cs.create_community(db, slug="renfu", names={"zh_CN": "人福村", "en": "Renfu Village"})
    town = cs.add_place(db, actor=None, community=c, kind="street", name="盛泽镇")
    village = cs.add_place(db, actor=None, community=c, kind="community", name="人福村", parent=town)
    east = cs.add_place(db, actor=None, community=c, kind="grid", name="东片网格", parent=village)
    cs.add_place(db, actor=None, community=c, kind="grid", name="西片网格", parent=village)
    admin = cs.add_member(db, actor=None, community=c, display_name="计菲菲", username="renfu-admin",
                          password=DEMO_PASSWORD, roles=[(Role.ADMIN, None)])
    host = cs.add_member(db, actor=None, community=c, display_name="李月昌", username="renfu-host",
                         password=DEMO_PASSWORD, place=east, roles=[(Role.HOST, None), (Role.RESIDENT, east)])
    cs.add_member(db, actor=None, community=c, display_name="沈网格长", username="renfu-grid",
                  password=DEMO_PASSWORD, place=east, roles=[(Role.GRID_HEAD, east)])
    # the residents come from a roster file, through the import an administrator uses
    _import_roster(db, c, "roster_renfu.csv", now)
    # the coming month's 海棠小院 talks come from the host-rotation plugin's demo hook
    # (plugins/host_rotation/demo.py: 8 talks in residents' homes, planned through the policy hook)
    # a tea talk happening now, so the live page can be tried at once
    start = now - timedelta(minutes=30)
    live = ss.create_session(db, actor=None, catalog=catalog, community=c, format_key="courtyard_talk",
                             title="海棠小院：今年先办哪件事？", starts_at=start, ends_at=start + timedelta(hours=2),
                             host_id=host.id, venue="李月昌家小院", capacity=25, category_key="livelihood",
                             status="scheduled", now=start, allow_guests=True,
                             agenda=["回顾上次议定的事", "今年先办哪件事", "下一场谁来当院长"])
    ss.change_status(db, actor=None, session=live, status="live")
    del admin


def _seed_tuxin(db: Any, catalog: Any, now: datetime) -> None:
    c = cs.create_community(db, slug="tuxin", names={"zh_CN": "涂新社区", "en": "Tuxin Community"})
    street = cs.add_place(db, actor=None, community=c, kind="street", name="金盆岭街道")
    community = cs.add_place(db, actor=None, community=c, kind="community", name="涂新社区", parent=street)
    grid = cs.add_place(db, actor=None, community=c, kind="grid", name="第一网格", parent=community)
    b9 = cs.add_place(db, actor=None, community=c, kind="building", name="9栋", parent=grid)
    cs.add_place(db, actor=None, community=c, kind="unit", name="9栋1单元", parent=b9)
    cs.add_member(db, actor=None, community=c, display_name="涂新社区书记", username="tuxin-admin",
                  password=DEMO_PASSWORD, roles=[(Role.ADMIN, None)])
    cs.add_member(db, actor=None, community=c, display_name="刘网格长", username="tuxin-grid",
                  password=DEMO_PASSWORD, place=grid, roles=[(Role.GRID_HEAD, grid)])
    cs.add_member(db, actor=None, community=c, display_name="区城管局", username="tuxin-dept",
                  password=DEMO_PASSWORD, roles=[(Role.DEPARTMENT, None)])
    # the building head and the residents come from a roster file (web/demo_data/)
    _import_roster(db, c, "roster_tuxin.csv", now)
    sessions = [
        ("golden_microphone", "民声金话筒：占道违停怎么管？", "environment", "社区党群服务中心", 5,
         ["网格报告：芙蓉中路三段违停情况", "城管、交警部门回应", "居民提问"]),
        ("golden_microphone", "民声金话筒：老旧小区水管改造", "livelihood", "社区党群服务中心", 12,
         ["9栋顶楼与底楼雨水管纠纷", "物业公司报到", "商定方案"]),
        ("representative_assembly", "居民代表会议：年度民生实事项目表决", "livelihood", "社区会议室", 20,
         ["项目清单说明", "代表表决"]),
        ("review_meeting", "月度通报会：上月诉求办理情况", None, "社区会议室", 27, ["已办结事项评议", "逾期事项通报"]),
    ]
    for fmt, title, category, venue, days, agenda in sessions:
        start = _local(now + timedelta(days=days), 19, 30)
        ss.create_session(db, actor=None, catalog=catalog, community=c, format_key=fmt, title=title,
                          starts_at=start, ends_at=start + timedelta(hours=2), venue=venue, category_key=category,
                          status="scheduled", now=now, agenda=agenda)


def seed_demo(app: Flask, *, base_url: str = "http://127.0.0.1:5000", now: datetime | None = None) -> dict[str, Any]:
    """Seed what is missing and describe the demo (fresh one-time sign-in links each call)."""
    cy = app.extensions["courtyard"]
    now = now or utcnow()
    base = base_url.rstrip("/")
    with session_scope(cy.sessionmaker) as db:
        existing = {c.slug for c in cs.list_communities(db)}
        for slug, seed in (("renfu", _seed_renfu), ("tuxin", _seed_tuxin)):
            if slug in existing:
                continue
            seed(db, cy.catalog, now)
            community = db.scalar(select(Community).where(Community.slug == slug))
            # plugins add their part: issues, the courtyard rota, votes...
            cy.pm.hook.courtyard_seed_demo(db=db, catalog=cy.catalog, pm=cy.pm, community=community, now=now)
            db.flush()
    info: dict[str, Any] = {"base_url": base, "communities": [], "sessions": [], "logins": []}
    with session_scope(cy.sessionmaker) as db:
        for c in cs.list_communities(db):
            if c.slug not in ("renfu", "tuxin"):
                continue
            info["communities"].append({"slug": c.slug, "name": c.name("zh_CN"), "name_en": c.name("en"),
                                        "url": f"{base}/c/{c.slug}",
                                        "calendar_url": f"{base}/c/{c.slug}/calendar.ics"})
            for s in db.scalars(select(ConsultationSession).where(ConsultationSession.community_id == c.id)
                                .order_by(ConsultationSession.starts_at)):
                info["sessions"].append({
                    "id": s.id, "community": c.slug, "title": s.title, "format": s.format_key, "status": s.status,
                    "starts_at": s.starts_at.isoformat(), "join_code": s.join_code,
                    "join_url": f"{base}/j/{s.join_code}" if s.join_code else None,
                    "url": f"{base}/c/{c.slug}/sessions/{s.id}",
                })
            for m in db.scalars(select(Member).where(Member.community_id == c.id).order_by(Member.id)):
                roles = sorted(m.role_names())
                entry: dict[str, Any] = {"community": c.slug, "member_id": m.id, "name": m.display_name,
                                         "role": roles[0] if len(roles) == 1 else ",".join(roles)}
                if m.username:
                    entry.update(username=m.username, password=DEMO_PASSWORD)
                else:
                    token = auth_service.issue_sign_in_token(db, actor=None, member=m, now=now)
                    entry["sign_in_url"] = f"{base}/s/{token}"
                info["logins"].append(entry)
    return info

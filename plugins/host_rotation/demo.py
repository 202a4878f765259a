"""Demo rota for 人福村: a Wednesday-and-Saturday 海棠小院 series, seven residents who
offered their homes, and the coming four weeks planned through the policy hook and
confirmed — 8 talks in residents' courtyards, a few seats already taken."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from core.db import utcnow
from core.models import Community, ConsultationSession, Member, RotationSeries
from core.services import rotation as rs

SERIES_TITLE = "海棠小院茶话会"
#: (display name, address, seats, topic, what to bring)
HOSTS = [
    ("李月昌", "人福村东片 3 组 8 号", 25, "5G户户通：我们怎么用好？", "自带茶杯"),
    ("王阿婆", "人福村东片 2 组 15 号", 12, "围炉煮茶话家常", "带两把竹椅"),
    ("张师傅", "人福村东片 5 组 3 号", 15, "村道修补，先修哪一段？", "带小板凳"),
    ("陈阿姨", "人福村西片 1 组 21 号", 10, "烘焙课：做一次桃酥", "带围裙"),
    ("周大伯", "人福村西片 4 组 6 号", 14, "垃圾分类与乱堆乱放整治", "带茶杯"),
    ("吴老师", "人福村东片 6 组 11 号", 12, "读书会：《乡土中国》", "带一本想分享的书"),
    ("徐小妹", "人福村西片 2 组 9 号", 10, "智能手机课：教老人扫码", "带上手机"),
]


def seed_rotation(db: Any, catalog: Any, pm: Any, community_slug: str = "renfu", *,
                  now: datetime | None = None) -> RotationSeries | None:
    """Seed the rota once (does nothing when the series exists already)."""
    now = now or utcnow()
    community = db.scalar(select(Community).where(Community.slug == community_slug))
    if community is None:
        return None
    existing = db.scalar(select(RotationSeries).where(RotationSeries.community_id == community.id,
                                                      RotationSeries.title == SERIES_TITLE))
    if existing is not None:
        return existing
    members = {m.display_name: m for m in db.scalars(select(Member).where(Member.community_id == community.id))}
    series = rs.create_series(db, actor=None, community=community, title=SERIES_TITLE, weekdays=[2, 5],
                              start_time="14:00", duration_minutes=120, min_capacity=10, category_key="livelihood",
                              catalog=catalog, now=now)
    tz = rs.community_tz(db, community)
    today = rs.local_today(tz, now)
    start, end = today + timedelta(days=1), today + timedelta(days=29)  # the coming four weeks: 8 talks
    days = rs.series_dates(series, start, end)
    for index, (name, address, seats, topic, bring) in enumerate(HOSTS):
        member = members.get(name)
        if member is None:
            continue
        # everyone offers most dates; each skips a couple, as real neighbours would
        offered = [d for i, d in enumerate(days) if (i + index) % 4 != 0] or days
        rs.apply_to_host(db, actor=member, series=series, venue_address=address, venue_label=f"{name}家小院",
                         seats=seats, topic=topic, bring_note=bring, dates=offered, now=now)
    slots = rs.plan_period(db, actor=None, series=series, start=start, end=end,
                           plan=lambda **kw: pm.hook.courtyard_plan_host_rotation(**kw), now=now)
    for slot in slots:
        if slot.host_id is not None:
            rs.confirm_slot(db, actor=db.get(Member, slot.host_id), slot=slot, catalog=catalog, now=now)
    # a few neighbours have already reserved seats for the first talk
    first = next((s for s in slots if s.session_id), None)
    if first is not None:
        session = db.get(ConsultationSession, first.session_id)
        for name, bring in (("王阿婆", "两把竹椅"), ("周大伯", "一壶茶"), ("吴老师", "")):
            member = members.get(name)
            if member is not None and member.id != session.host_id:
                rs.reserve_seat(db, actor=member, session=session, bringing=bring, now=now)
    db.flush()
    return series

"""The voting demo.

* 人福村 (renfu): the tea talk happening now has an open yes/no motion (results shown
  live) and 周大伯, checked in by the host as he has no phone (so the host can record his
  vote); an earlier motion — where to put the new rubbish-sorting point, a secret ballot —
  is closed with its result, receipts and anonymised ballots published.
* 涂新社区 (tuxin): the elected resident representatives vote by instant runoff on which
  of three projects becomes this year's livelihood project (居民代表会议), open for a
  period so representatives who cannot attend vote on their phones.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from core.models import ConsultationSession, Member
from core.services import live as live_service
from core.services import votes as svc

H = timedelta(hours=1)


def seed_votes(db: Any, catalog: Any, community: Any, now: datetime) -> list[Any]:
    methods = catalog.tally_methods
    people = {m.display_name: m for m in db.scalars(select(Member).where(Member.community_id == community.id))}
    sessions = list(db.scalars(select(ConsultationSession).where(ConsultationSession.community_id == community.id)))
    out: list[Any] = []
    if community.slug == "renfu":
        live = next((s for s in sessions if s.status == "live"), None)
        if live is not None:
            yes_no = svc.create_motion(
                db, actor=None, community=community, method=methods.get("majority"), session_id=live.id,
                title="今年先修东片村道，大家同意吗？", description="修补东片村道坑洼路段约 800 米，经费从村集体公益金列支。",
                params={"threshold": "simple"}, quorum=3, results_visibility="live", category_key="livelihood",
                open_now=True, now=now - 10 * timedelta(minutes=1))
            for name, choice in (("王阿婆", "yes"), ("张师傅", "yes"), ("陈阿姨", "no")):
                if name in people:
                    svc.cast_ballot(db, actor=people[name], motion=yes_no, choice=choice, now=now - 5 * timedelta(minutes=1))
            out.append(yes_no)
            # 周大伯 came to the tea talk without a phone: the host checked him in at the gate, so the
            # host can record his show of hands on the motion page (an assisted vote needs that)
            host = people.get("李月昌")
            if host is not None and "周大伯" in people:
                live_service.check_in(db, actor=host, session=live, member=people["周大伯"],
                                      now=now - 20 * timedelta(minutes=1))
        earlier = svc.create_motion(
            db, actor=None, community=community, method=methods.get("plurality"),
            title="新的垃圾分类投放点设在哪里？", description="上次海棠小院茶话会商定的三个备选位置。",
            options=["村委会东侧", "老祠堂旁", "东片桥头"], secret=True, quorum=4, category_key="environment",
            open_now=True, now=now - 72 * H)
        votes = (("王阿婆", "村委会东侧"), ("张师傅", "老祠堂旁"), ("陈阿姨", "村委会东侧"), ("周大伯", "村委会东侧"),
                 ("吴老师", "东片桥头"), ("徐小妹", "老祠堂旁"))
        for i, (name, choice) in enumerate(votes):
            if name in people:  # a motion without a session: everyone votes on their own phone
                svc.cast_ballot(db, actor=people[name], motion=earlier, choice=choice, now=now - (70 - i) * H)
        svc.close_motion(db, actor=None, motion=earlier, method=methods.get("plurality"), now=now - 48 * H)
        out.append(earlier)
    elif community.slug == "tuxin":
        reps = [people[n] for n in ("赵奶奶", "钱师傅", "孙阿姨", "9栋楼栋长", "刘网格长") if n in people]
        svc.set_representatives(db, actor=None, community=community, member_ids=[m.id for m in reps])
        assembly = next((s for s in sessions if s.format_key == "representative_assembly"), None)
        projects = ["老旧小区水管改造", "芙蓉中路三段施划停车位", "9栋加装电梯补贴代办"]
        irv = svc.create_motion(
            db, actor=None, community=community, method=methods.get("irv"),
            session_id=assembly.id if assembly else None,
            agenda_item_id=assembly.agenda[-1].id if assembly and assembly.agenda else None,
            title="年度民生实事项目：先办哪一项？", description="请按先后顺序点选三个项目；代表会议当晚结束投票。",
            options=projects, electorate="representatives", quorum=3, results_visibility="after_close",
            category_key="livelihood", open_now=True, now=now,
            closes_at=(assembly.ends_at if assembly else now + 14 * 24 * H))
        for name, ranking in (("赵奶奶", [projects[0], projects[2]]), ("钱师傅", [projects[1], projects[0]])):
            if name in people:
                svc.cast_ballot(db, actor=people[name], motion=irv, choice=ranking, now=now)
        out.append(irv)
    db.flush()
    return out

"""Demo issues for 涂新社区 (seed 004): the whole loop, so a newcomer sees every status —
the collapsed water main under the police station (overdue, escalated), the rain-pipe
dispute between the top and ground floors of building 9 (on a forum agenda), illegal
parking on Furong Middle Road section 3 (resolved and rated), one rejected with a reason,
and some open ones. The review meeting's agenda is derived from :func:`review_items`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from core.db import utcnow
from core.models import ConsultationSession, Member, Place
from core.services import issues as svc
from core.services.access import community_by_slug

D = timedelta(days=1)
H = timedelta(hours=1)


def seed_issues(db: Any, catalog: Any, community_slug: str = "tuxin", now: datetime | None = None) -> list[Any]:
    now = now or utcnow()
    c = community_by_slug(db, community_slug)
    people = {m.display_name: m for m in db.scalars(select(Member).where(Member.community_id == c.id))}
    by_user = {m.username: m for m in people.values() if m.username}
    places = {p.name: p for p in db.scalars(select(Place).where(Place.community_id == c.id))}
    admin, grid, dept = by_user["tuxin-admin"], by_user["tuxin-grid"], by_user["tuxin-dept"]
    zhao, qian, sun = people["赵奶奶"], people["钱师傅"], people["孙阿姨"]
    water = svc.create_outside_body(db, actor=None, community=c, name="长沙水业集团", contact="0731-96777")
    svc.create_outside_body(db, actor=None, community=c, name="小区物业公司", contact="物业服务中心")
    out = []

    def new(actor, title, description, category, place, ago, **kw):
        issue = svc.raise_issue(db, actor=actor, catalog=catalog, community=c, title=title, description=description,
                                category_key=category, place_id=places[place].id, now=now - ago, **kw)
        out.append(issue)
        return issue

    # 1. the water main: raised by the grid head for 赵奶奶, assigned to the water company, overdue → escalated
    t = now - 12 * D
    main = new(grid, "派出所楼下水管线塌陷", "不知道什么原因，派出所楼下水管线塌陷，路面下沉，请尽快解决。",
               "livelihood", "第一网格", 12 * D, on_behalf_of_id=zhao.id)
    svc.support(db, actor=qian, issue=main, now=t + 2 * H)
    svc.support(db, actor=sun, issue=main, now=t + 3 * H)
    svc.triage(db, actor=grid, catalog=catalog, issue=main, decision="accept", reason="网格已到现场核实", now=t + 5 * H)
    svc.assign(db, actor=admin, issue=main, outside_body_id=water.id, due_at=t + 5 * D, now=t + 6 * H)

    # 2. the rain pipe between the top and ground floors of building 9: on the forum's agenda
    pipe = new(qian, "9栋顶楼与底楼雨水管纠纷", "顶楼住户改了雨水管，底楼一下雨就倒灌，两家协商不下来，请社区组织大家坐下来商量。",
               "livelihood", "9栋", 9 * D)
    svc.support(db, actor=zhao, issue=pipe, now=now - 8 * D)
    forum = db.scalar(select(ConsultationSession).where(ConsultationSession.community_id == c.id,
                                                        ConsultationSession.title.contains("水管")))
    if forum is not None:
        svc.triage(db, actor=admin, catalog=catalog, issue=pipe, decision="schedule", session_id=forum.id,
                   reason="请物业公司和两户居民到场", now=now - 7 * D)

    # 3. illegal parking on Furong Middle Road section 3: replied, resolved, rated well
    t = now - 26 * D
    parking = new(sun, "芙蓉中路三段占道违停", "芙蓉中路三段人行道上长期停满车，老人推轮椅只能走机动车道。",
                  "environment", "第一网格", 26 * D)
    svc.support(db, actor=zhao, issue=parking, now=t + D)
    svc.support(db, actor=qian, issue=parking, now=t + D + H)
    svc.triage(db, actor=grid, catalog=catalog, issue=parking, decision="accept", now=t + D + 2 * H)
    svc.assign(db, actor=admin, issue=parking, department_member_id=dept.id, due_at=t + 8 * D, now=t + 2 * D)
    svc.reply(db, actor=dept, issue=parking, body="已安排执法中队每日早晚巡查，并施划禁停标线。", now=t + 3 * D)
    svc.resolve(db, actor=dept, issue=parking, note="禁停标线已施划，隔离桩已安装。", now=t + 7 * D)
    for who, score, ago in ((sun, 5, 17 * D), (zhao, 4, 16 * D), (qian, 4, 16 * D)):
        svc.rate(db, actor=who, catalog=catalog, issue=parking, score=score, comment="", now=now - ago)

    # 4. rejected with a reason the resident sees
    clutter = new(zhao, "希望社区出钱给9栋装电梯", "楼层高，老人上下楼不方便。", "livelihood", "9栋1单元", 6 * D)
    svc.triage(db, actor=admin, catalog=catalog, issue=clutter, decision="reject",
               reason="加装电梯须由本栋业主共同申请、自筹为主，社区可协助办理补贴申请，请到社区服务中心咨询。",
               now=now - 5 * D)

    # 5. assigned, replied, not yet resolved; 6. open, just raised; 7. resolved and closed
    noise = new(qian, "广场舞音响太大影响休息", "晚上九点以后还在放，家里有高考生。", "culture", "第一网格", 4 * D)
    svc.triage(db, actor=grid, catalog=catalog, issue=noise, decision="accept", now=now - 4 * D + 3 * H)
    svc.assign(db, actor=admin, issue=noise, department_member_id=dept.id, due_at=now + 3 * D, now=now - 3 * D)
    svc.reply(db, actor=dept, issue=noise, body="已与舞队负责人约谈，约定晚上九点前结束、音量减半，下周回访。", now=now - 2 * D)
    new(sun, "希望社区卫生站每周上门量血压", "几位独居老人行动不便，去卫生站不方便。", "healthcare", "9栋", 1 * D)
    t = now - 40 * D
    pay = new(zhao, "老年人不会用手机缴水电费", "希望有人教一教。", "finance", "9栋1单元", 40 * D)
    svc.triage(db, actor=grid, catalog=catalog, issue=pay, decision="accept", now=t + D)
    svc.resolve(db, actor=admin, issue=pay, note="社区联合银行网点开了两期手机缴费课。", now=t + 10 * D)
    svc.rate(db, actor=zhao, catalog=catalog, issue=pay, score=5, now=t + 11 * D)
    svc.close(db, actor=admin, issue=pay, now=t + 20 * D)

    svc.escalate_overdue(db, now=now, community_id=c.id)
    review = db.scalar(select(ConsultationSession).where(ConsultationSession.community_id == c.id,
                                                         ConsultationSession.format_key == "review_meeting"))
    if review is not None:
        svc.add_review_agenda(db, actor=None, session=review, period="monthly", until=now, catalog=catalog)
    db.flush()
    return out

"""Dashboard figures from a known set, checked against values computed by hand; the
SVG charts carry the same figures as the table and the CSV."""

from __future__ import annotations

import csv
import io
import statistics
from datetime import datetime, timedelta, timezone

from tests.plugins.issues.issues_world import api
from core.db import session_scope
from core.models import Community, Member
from core.services import issue_stats as stats
from core.services import issues as svc

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)
H = timedelta(hours=1)


def test_pure_figures():
    facts = [
        stats.IssueFacts(1, "resolved", "民生", "9栋", "城管局", T0, T0 + 10 * H, T0 + 24 * H, T0 + 48 * H, (4, 5)),
        stats.IssueFacts(2, "resolved", "民生", "9栋", "城管局", T0, T0 + 30 * H, T0 + 72 * H, T0 + 24 * H, (2,)),
        stats.IssueFacts(3, "assigned", "环保", "第一网格", "城管局", T0, None, None, T0 + 24 * H),
        stats.IssueFacts(4, "open", "环保", "第一网格", None, T0),
        stats.IssueFacts(5, "merged", "环保", "第一网格", None, T0),
    ]
    now = T0 + 120 * H
    by_cat = {g.key: g for g in stats.group_figures(facts, stats.BY["category"], now)}
    life, env = by_cat["民生"], by_cat["环保"]
    assert life.total == 2 and life.counts["resolved"] == 2
    assert life.median_hours_to_first_reply == statistics.median([10, 30]) == 20
    assert life.median_hours_to_resolution == statistics.median([24, 72]) == 48
    assert life.overdue_share == 1 / 2  # issue 2 was resolved after its due date
    assert life.average_satisfaction == (4 + 5 + 2) / 3
    assert env.total == 2  # the merged duplicate is left out
    assert env.median_hours_to_first_reply is None and env.overdue_share == 1.0 and env.average_satisfaction is None
    assert stats.figures("x", [], now).overdue_share is None


def seed(app, iw):
    """The same set as test_pure_figures, through the services with the clock."""
    cy = app.extensions["courtyard"]
    with session_scope(cy.sessionmaker) as db:
        c = db.get(Community, iw.community_id)
        r1, r2 = db.get(Member, iw.ids["resident"]), db.get(Member, iw.ids["resident2"])
        admin, dept = db.get(Member, iw.ids["admin"]), db.get(Member, iw.ids["department"])

        def new(title, cat):
            return svc.raise_issue(db, actor=r2, catalog=cy.catalog, community=c, title=title, description="",
                                   category_key=cat, place_id=iw.place_ids["building"], now=T0)

        i1, i2, i3 = new("一", "livelihood"), new("二", "livelihood"), new("三", "environment")
        new("四", "environment")
        svc.assign(db, actor=admin, issue=i1, department_member_id=dept.id, due_at=T0 + 48 * H, now=T0)
        svc.assign(db, actor=admin, issue=i2, department_member_id=dept.id, due_at=T0 + 24 * H, now=T0)
        svc.assign(db, actor=admin, issue=i3, department_member_id=dept.id, due_at=T0 + 24 * H, now=T0)
        svc.reply(db, actor=dept, issue=i1, body="好", now=T0 + 10 * H)
        svc.reply(db, actor=dept, issue=i2, body="好", now=T0 + 30 * H)
        svc.resolve(db, actor=dept, issue=i1, now=T0 + 24 * H)
        svc.resolve(db, actor=dept, issue=i2, now=T0 + 72 * H)
        svc.rate(db, actor=r1, catalog=cy.catalog, issue=i1, score=4, now=T0 + 80 * H)
        svc.rate(db, actor=r2, catalog=cy.catalog, issue=i1, score=5, now=T0 + 80 * H)
        svc.rate(db, actor=r1, catalog=cy.catalog, issue=i2, score=2, now=T0 + 80 * H)


def test_dashboard_api_page_csv_and_svg(app, client, iw):
    iw.clock.now = T0 + 120 * H
    seed(app, iw)
    iw.login(client, "resident")
    figures = {g["key"]: g for g in api(client, iw, "get", "/issues/dashboard?by=category").get_json()}
    life, env = figures["民生"], figures["环保"]
    assert (life["total"], life["median_hours_to_first_reply"], life["median_hours_to_resolution"]) == (2, 20.0, 48.0)
    assert life["overdue_share"] == 0.5 and abs(life["average_satisfaction"] - 11 / 3) < 1e-9
    assert (env["total"], env["overdue_share"], env["counts"]["assigned"], env["counts"]["open"]) == (2, 1.0, 1, 1)
    by_dept = {g["key"]: g for g in api(client, iw, "get", "/issues/dashboard?by=department").get_json()}
    assert by_dept["城管局"]["total"] == 3 and by_dept["城管局"]["overdue_share"] == 2 / 3

    page = client.get(f"/c/{iw.slug}/issues/dashboard?by=category").get_data(as_text=True)
    svgs = page.count("<svg")
    assert svgs >= 5
    for figure in ("20.0", "48.0", "50%", "100%", "3.67"):
        assert f'class="figure">{figure}</text>' in page, figure  # in a chart
        assert f"<td>{figure}</td>" in page, figure  # and in the table

    r = client.get(f"/c/{iw.slug}/issues/dashboard.csv?by=category")
    assert r.mimetype == "text/csv" and "attachment" in r.headers["Content-Disposition"]
    rows = {row["category"]: row for row in csv.DictReader(io.StringIO(r.get_data(as_text=True).lstrip("\ufeff")))}
    assert rows["民生"]["median_hours_to_first_reply"] == "20.0" and rows["民生"]["average_satisfaction"] == "3.67"
    assert rows["民生"]["overdue_percent"] == "50" and rows["环保"]["overdue_percent"] == "100"
    assert rows["环保"]["total"] == "2" and rows["环保"]["open"] == "1"
    assert api(client, iw, "get", "/issues/dashboard?by=colour").status_code == 400


def test_csv_cells_are_never_formulas(app, client, iw):
    cy = app.extensions["courtyard"]
    with session_scope(cy.sessionmaker) as db:
        from core.services import communities as cs
        from core.models import Place
        c = db.get(Community, iw.community_id)
        evil = cs.add_place(db, actor=None, community=c, kind="building", name="=HYPERLINK(\"x\")",
                            parent=db.get(Place, iw.place_ids["grid"]))
        svc.raise_issue(db, actor=db.get(Member, iw.ids["resident2"]), catalog=cy.catalog, community=c, title="t",
                        description="", category_key="culture", place_id=evil.id, now=iw.clock.now)
    iw.login(client, "resident")
    text = client.get(f"/c/{iw.slug}/issues/dashboard.csv?by=place").get_data(as_text=True)
    assert "'=HYPERLINK" in text


def test_review_items_and_agenda(app, iw):
    iw.clock.now = T0 + 120 * H
    seed(app, iw)
    cy = app.extensions["courtyard"]
    from core.services import sessions as ss
    with session_scope(cy.sessionmaker) as db:
        c = db.get(Community, iw.community_id)
        items = svc.review_items(db, community=c, period="monthly", until=iw.clock.now, catalog=cy.catalog)
        assert [(i.section, i.issue.title) for i in items] == [("overdue", "三"), ("open", "四"), ("rated", "一"),
                                                                ("rated", "二")]
        assert items[2].average == 4.5 and items[2].ratings == 2
        session = ss.create_session(db, actor=None, catalog=cy.catalog, community=c, format_key="review_meeting",
                                    title="月度通报会", starts_at=iw.clock.now + H, status="scheduled", now=iw.clock.now)
        added = svc.add_review_agenda(db, actor=db.get(Member, iw.ids["admin"]), session=session, period="monthly",
                                      catalog=cy.catalog)
        assert [a.title.split(" ")[0] for a in added] == ["逾期", "未办结", "已评议", "已评议"]
        assert svc.add_review_agenda(db, actor=None, session=session, period="monthly") == []  # idempotent
        import pytest
        from core.errors import Forbidden
        with pytest.raises(Forbidden):
            svc.add_review_agenda(db, actor=db.get(Member, iw.ids["resident"]), session=session, period="monthly")


def test_openapi_lists_the_issue_endpoints(app, client):
    import warnings

    with warnings.catch_warnings():  # another plugin's schema names may clash (apispec warns)
        warnings.simplefilter("ignore", UserWarning)
        spec = client.get("/api/openapi.json").get_json()
    paths = spec["paths"]
    assert "/api/v1/communities/{slug}/issues" in paths
    assert set(paths["/api/v1/communities/{slug}/issues"]) == {"get", "post"}
    assert "post" in paths["/api/v1/communities/{slug}/issues/{issue_id}/assign"]
    assert "/api/v1/communities/{slug}/issues/dashboard" in paths


def test_new_hooks_are_documented():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[3] / "docs" / "hooks.md").read_text()
    for hook in ("courtyard_issue_status_changed", "courtyard_issue_escalated"):
        assert f"### {hook}(" in text


def test_demo_shows_the_whole_loop(app):
    from sqlalchemy import select

    from core.models import AgendaItem, ConsultationSession, Issue
    from web.demo import seed_demo

    seed_demo(app)
    cy = app.extensions["courtyard"]
    with session_scope(cy.sessionmaker) as db:
        issues = {i.title: i for i in db.scalars(select(Issue))}
        assert issues["派出所楼下水管线塌陷"].escalation_level >= 1 and issues["派出所楼下水管线塌陷"].status == "assigned"
        assert issues["9栋顶楼与底楼雨水管纠纷"].status == "scheduled"
        assert issues["芙蓉中路三段占道违停"].status == "resolved" and len(issues["芙蓉中路三段占道违停"].ratings) == 3
        assert issues["希望社区出钱给9栋装电梯"].rejection_reason
        assert {i.status for i in issues.values()} >= {"open", "scheduled", "assigned", "replied", "resolved",
                                                       "rejected", "closed"}
        review = db.scalars(select(ConsultationSession).where(ConsultationSession.format_key == "review_meeting")).one()
        titles = [a.title for a in db.scalars(select(AgendaItem).where(AgendaItem.session_id == review.id))]
        assert any(t.startswith("逾期") and "派出所" in t for t in titles)

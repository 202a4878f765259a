"""Escalation by time, with the injected clock: grid → community → street, one level per
overdue period, an event and notifications each time, the hook after commit."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from tests.plugins.issues.issues_world import api
from core.db import session_scope
from core.models import Community, Issue, IssueEvent, Member, Notification, Place
from core.plugins import hookimpl
from core.services import issues as svc


def _assigned_issue(app, iw, days=2):
    cy = app.extensions["courtyard"]
    with session_scope(cy.sessionmaker) as db:
        c = db.get(Community, iw.community_id)
        resident = db.get(Member, iw.ids["resident"])
        issue = svc.raise_issue(db, actor=resident, catalog=cy.catalog, community=c, title="芙蓉中路三段违停",
                                description="", category_key="environment", place_id=iw.place_ids["building"],
                                now=iw.clock.now)
        admin = db.get(Member, iw.ids["admin"])
        svc.assign(db, actor=admin, issue=issue, department_member_id=iw.ids["department"],
                   due_at=iw.clock.now + timedelta(days=days), now=iw.clock.now)
        return issue.id


def test_escalates_one_level_per_overdue_period(app, iw):
    cy = app.extensions["courtyard"]
    seen = []

    class Listener:
        plugin_name = "listener"

        @hookimpl
        def courtyard_issue_escalated(self, issue, from_place, to_place):
            seen.append((issue.id, from_place.name, to_place.name))

    cy.pm.register(Listener(), name="listener")
    cy.pm.builtin_names.add("listener")  # enabled in every community by default, like a built-in
    issue_id = _assigned_issue(app, iw, days=2)
    with session_scope(cy.sessionmaker) as db:
        assert svc.escalate_overdue(db, now=iw.clock.advance(days=2)) == []  # exactly due: not yet overdue
    with session_scope(cy.sessionmaker) as db:
        moved = svc.escalate_overdue(db, now=iw.clock.advance(minutes=1))
        assert [(s.name, t.name) for _, s, t in moved] == [("东片网格", "人福村")]
    assert seen == [(issue_id, "东片网格", "人福村")]
    with session_scope(cy.sessionmaker) as db:  # running again in the same period changes nothing
        assert svc.escalate_overdue(db, now=iw.clock.advance(days=1)) == []
    with session_scope(cy.sessionmaker) as db:  # one more full period (2 days) overdue: the street
        moved = svc.escalate_overdue(db, now=iw.clock.advance(days=1))
        assert [(s.name, t.name) for _, s, t in moved] == [("人福村", "盛泽镇")]
    with session_scope(cy.sessionmaker) as db:  # the top: it stays there
        assert svc.escalate_overdue(db, now=iw.clock.advance(days=30)) == []
        issue = db.get(Issue, issue_id)
        assert issue.escalation_level == 2 and issue.escalation_place.name == "盛泽镇"
        events = list(db.scalars(select(IssueEvent).where(IssueEvent.issue_id == issue_id,
                                                          IssueEvent.kind == "escalated")))
        assert [(e.data["from_place"], e.data["to_place"], e.data["level"]) for e in events] == [
            ("东片网格", "人福村", 1), ("人福村", "盛泽镇", 2)]
        # the resident who raised it and the staff (no head is bound to the village or the town) are told
        told = {n.member_id for n in db.scalars(select(Notification).where(Notification.kind == "issue_escalated"))}
        assert {iw.ids["resident"], iw.ids["admin"], iw.ids["moderator"], iw.ids["department"]} <= told
    assert len(seen) == 2
    cy.pm.unregister(name="listener")
    cy.pm.builtin_names.discard("listener")


def test_skipped_periods_climb_every_level_at_once(app, iw):
    issue_id = _assigned_issue(app, iw, days=1)
    cy = app.extensions["courtyard"]
    with session_scope(cy.sessionmaker) as db:
        moved = svc.escalate_overdue(db, now=iw.clock.advance(days=10))
        assert [t.name for _, _, t in moved] == ["人福村", "盛泽镇"]
        assert db.get(Issue, issue_id).escalation_level == 2


def test_a_reply_does_not_stop_the_clock_but_resolving_does(app, iw):
    issue_id = _assigned_issue(app, iw, days=1)
    cy = app.extensions["courtyard"]
    with session_scope(cy.sessionmaker) as db:
        issue = db.get(Issue, issue_id)
        svc.reply(db, actor=db.get(Member, iw.ids["department"]), issue=issue, body="在处理", now=iw.clock.now)
        svc.resolve(db, actor=db.get(Member, iw.ids["department"]), issue=issue, now=iw.clock.now)
    with session_scope(cy.sessionmaker) as db:
        assert svc.escalate_overdue(db, now=iw.clock.advance(days=5)) == []


def test_overdue_shows_to_followers_and_listing_escalates_lazily(app, client, iw):
    issue_id = _assigned_issue(app, iw, days=1)
    iw.clock.advance(days=1, hours=1)
    iw.login(client, "resident")
    listed = api(client, iw, "get", "/issues?status=overdue").get_json()
    assert [(i["id"], i["overdue"], i["escalation_level"]) for i in listed] == [(issue_id, True, 1)]
    page = client.get(f"/c/{iw.slug}/issues/{issue_id}").get_data(as_text=True)
    assert "data-overdue" in page and "人福村" in page


def test_cli_command_escalates(app, iw, monkeypatch, tmp_path):
    from click.testing import CliRunner

    from web.cli import main

    _assigned_issue(app, iw, days=1)
    monkeypatch.setenv("COURTYARD_DATABASE_URL", app.config["DATABASE_URL"])
    monkeypatch.setenv("COURTYARD_SECRET_KEY", "x")
    monkeypatch.setenv("COURTYARD_PLUGIN_ENTRYPOINTS", "0")
    # the command uses the real clock; the issue was assigned at the fixture's 2026 clock, so
    # it is long overdue by the time this runs
    result = CliRunner().invoke(main, ["issues", "escalate"])
    assert result.exit_code == 0, result.output
    assert "东片网格 -> 人福村" in result.output

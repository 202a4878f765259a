"""Volunteer points end to end, with the Courtyard plugin kit's fixtures."""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from core.db import utcnow
from core.models import Community, ConsultationSession, Member
from core.services import sessions as sessions_service
from courtyard_volunteer_points import service
from courtyard_volunteer_points.models import LedgerEntry


def close_session(app, community, host_role="host", attendees=()):
    cy = app.extensions["courtyard"]
    with community.session() as db:
        c = db.get(Community, community.id)
        s = sessions_service.create_session(db, actor=None, catalog=cy.catalog, community=c,
                                            format_key="courtyard_talk", title="海棠小院茶话会",
                                            starts_at=utcnow() + timedelta(days=1),
                                            host_id=community.members[host_role])
        sid = s.id
    try:
        from core.models.live import Participant
    except ImportError:
        Participant = None
    with community.session() as db:
        if Participant is not None:
            for role in attendees:
                db.add(Participant(session_id=sid, member_id=community.members[role], display_name=role,
                                   role="resident"))
    for status in ("scheduled", "live", "closed"):
        with community.session() as db:
            sessions_service.change_status(db, actor=None, session=db.get(ConsultationSession, sid), status=status)
    return sid


def balance_of(community, role):
    with community.session() as db:
        return service.balance(db, community.members[role])


def test_closing_a_session_awards_the_host_and_attendees_once(courtyard_app, courtyard_community):
    sid = close_session(courtyard_app, courtyard_community, attendees=("resident", "resident2", "host"))
    assert balance_of(courtyard_community, "host") == service.RULES["hosted"]
    assert balance_of(courtyard_community, "resident") == service.RULES["attended"]
    # the hook called again for the same event counts nothing twice
    cy = courtyard_app.extensions["courtyard"]
    with courtyard_community.session() as db:
        session = db.get(ConsultationSession, sid)
    cy.dispatch("courtyard_session_status_changed", courtyard_community.id,
                {"session": session, "old_status": "live", "new_status": "closed", "actor": None})
    assert balance_of(courtyard_community, "host") == service.RULES["hosted"]
    assert balance_of(courtyard_community, "resident") == service.RULES["attended"]


def test_nothing_is_awarded_where_the_plugin_is_off(courtyard_app, courtyard_make_community):
    off = courtyard_make_community("haitang", enable=[])
    close_session(courtyard_app, off, attendees=("resident",))
    assert balance_of(off, "host") == 0 and balance_of(off, "resident") == 0


def test_a_resolved_issue_rewards_the_resident_who_raised_it(courtyard_app, courtyard_community):
    class Issue:  # the hook's argument, as the issues plugin passes it
        id, community_id, on_behalf_of_id = 41, courtyard_community.id, None
        raised_by_id = courtyard_community.members["resident"]

    cy = courtyard_app.extensions["courtyard"]
    for _ in range(2):
        cy.dispatch("courtyard_issue_status_changed", courtyard_community.id,
                    {"issue": Issue(), "old_status": "replied", "new_status": "resolved", "actor": None})
    assert balance_of(courtyard_community, "resident") == service.RULES["issue_resolved"]


def test_the_points_page_the_exchange_and_a_short_balance(courtyard_app, courtyard_community, courtyard_client):
    slug = courtyard_community.slug
    close_session(courtyard_app, courtyard_community)  # host: 5 points
    with courtyard_community.session() as db:
        service.award(db, community_id=courtyard_community.id, member_id=courtyard_community.members["host"],
                      reason="service_day", source_kind="service_day", source_id="2026-10-28", points=6)
    token = courtyard_community.login(courtyard_client, "host")
    page = courtyard_client.get(f"/c/{slug}/points?lang=zh_CN").get_data(as_text=True)
    assert "志愿服务积分" in page and 'data-points="11"' in page and "主持议事会" in page
    assert "退出" in page or "Sign out" not in page  # the layout stays translated

    r = courtyard_client.post(f"/c/{slug}/points/exchange",
                              data={"csrf_token": token, "item": "haircut", "request_id": "r1"})
    assert r.status_code == 303
    again = courtyard_client.post(f"/c/{slug}/points/exchange",  # a double tap spends once
                                  data={"csrf_token": token, "item": "haircut", "request_id": "r1"})
    assert again.status_code == 303
    assert balance_of(courtyard_community, "host") == 1
    refused = courtyard_client.post(f"/c/{slug}/points/exchange",
                                    data={"csrf_token": token, "item": "groceries", "request_id": "r2"},
                                    follow_redirects=True)
    assert "积分不足" in refused.get_data(as_text=True)
    assert balance_of(courtyard_community, "host") == 1

    english = courtyard_client.get(f"/c/{slug}/points?lang=en").get_data(as_text=True)
    assert "Volunteer points" in english or "志愿服务积分" in english
    api = courtyard_client.get(f"/api/v1/communities/{slug}/points").get_json()
    assert api["balance"] == 1 and api["ledger"][0]["points"] == -10


def test_the_balance_check_is_conflict_safe(courtyard_app, courtyard_community):
    """Two exchanges prepared against the same balance: only one can debit it."""
    cy = courtyard_app.extensions["courtyard"]
    host_id = courtyard_community.members["host"]
    with courtyard_community.session() as db:
        service.award(db, community_id=courtyard_community.id, member_id=host_id, reason="hosted",
                      source_kind="test", source_id=1, points=12)
    a, b = cy.sessionmaker(), cy.sessionmaker()
    try:
        service.exchange(a, member=a.get(Member, host_id), item_key="haircut", request_id="a")
        a.commit()
        with pytest.raises(Exception, match="Not enough points"):
            service.exchange(b, member=b.get(Member, host_id), item_key="haircut", request_id="b")
    finally:
        a.close()
        b.rollback()
        b.close()
    assert balance_of(courtyard_community, "host") == 2


def test_the_monthly_service_day_is_the_28th_and_staff_confirm_it(courtyard_app, courtyard_community):
    assert service.next_service_day(date(2026, 3, 2)) == date(2026, 3, 28)
    assert service.next_service_day(date(2026, 3, 28)) == date(2026, 3, 28)
    assert service.next_service_day(date(2026, 12, 29)) == date(2027, 1, 28)
    assert service.next_service_day(date(2026, 2, 10)) == date(2026, 2, 28)
    with courtyard_community.session() as db:
        resident = db.get(Member, courtyard_community.members["resident"])
        service.sign_up(db, member=resident, day=date(2026, 3, 28), today=date(2026, 3, 2))
        service.sign_up(db, member=resident, day=date(2026, 3, 28), today=date(2026, 3, 2))  # once
    with courtyard_community.session() as db:
        admin = db.get(Member, courtyard_community.members["admin"])
        assert service.confirm_service_day(db, actor=admin, day=date(2026, 3, 28), today=date(2026, 3, 28)) == 1
        assert service.confirm_service_day(db, actor=admin, day=date(2026, 3, 28), today=date(2026, 3, 28)) == 0
    assert balance_of(courtyard_community, "resident") == service.RULES["service_day"]


def test_sign_up_through_the_page(courtyard_app, courtyard_community, courtyard_client):
    token = courtyard_community.login(courtyard_client, "resident2")
    r = courtyard_client.post(f"/c/{courtyard_community.slug}/points/service-day", data={"csrf_token": token})
    assert r.status_code == 303
    page = courtyard_client.get(f"/c/{courtyard_community.slug}/points?lang=en").get_data(as_text=True)
    assert "You are signed up." in page


def test_pages_answer_404_where_the_plugin_is_off_and_the_data_stays(courtyard_app, courtyard_community,
                                                                     courtyard_client):
    close_session(courtyard_app, courtyard_community)
    courtyard_community.login(courtyard_client, "host")
    url = f"/c/{courtyard_community.slug}/points"
    assert courtyard_client.get(url).status_code == 200
    courtyard_community.disable("volunteer_points")
    assert courtyard_client.get(url).status_code == 404
    assert balance_of(courtyard_community, "host") == service.RULES["hosted"]  # nothing lost
    courtyard_community.enable("volunteer_points")
    assert courtyard_client.get(url).status_code == 200


def test_live_points_on_the_plugin_namespace(courtyard_app, courtyard_community, courtyard_client,
                                             courtyard_socket_client):
    courtyard_community.login(courtyard_client, "host")
    live = courtyard_socket_client("/volunteer_points")
    assert live.is_connected("/volunteer_points")
    assert live.get_received("/volunteer_points")[0]["name"] == "balance"
    close_session(courtyard_app, courtyard_community)
    pushed = live.get_received("/volunteer_points")
    assert {"name": "points_awarded", "args": [{"points": 5, "reason": "hosted"}],
            "namespace": "/volunteer_points"} in pushed


def test_migrations_on_their_own_version_table(tmp_path, monkeypatch):
    """`courtyard db upgrade` creates the plugin's tables and version table;
    `courtyard db downgrade-plugin volunteer_points` removes them and nothing else."""
    from web.cli import main

    db_file = tmp_path / "m.db"
    monkeypatch.setenv("COURTYARD_DATABASE_URL", f"sqlite:///{db_file}")
    monkeypatch.setenv("COURTYARD_SECRET_KEY", "test")
    runner = CliRunner()
    result = runner.invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "plugin volunteer_points: at head" in result.output

    def tables():
        with sqlite3.connect(db_file) as conn:
            return {r[0] for r in conn.execute("select name from sqlite_master where type='table'")}

    assert {"plugin_volunteer_points_ledger", "plugin_volunteer_points_balance",
            "alembic_version_plugin_volunteer_points", "alembic_version", "members"} <= tables()
    result = runner.invoke(main, ["db", "downgrade-plugin", "volunteer_points", "base"])
    assert result.exit_code == 0, result.output
    assert not any(t.startswith("plugin_volunteer_points_") for t in tables())
    assert "members" in tables()
    listed = runner.invoke(main, ["plugins", "list", "--json"])
    assert '"name": "volunteer_points"' in listed.output and '"installed"' in listed.output


def test_the_ledger_never_counts_an_event_twice(courtyard_app, courtyard_community):
    with courtyard_community.session() as db:
        args = dict(community_id=courtyard_community.id, member_id=courtyard_community.members["resident"],
                    reason="attended", source_kind="session", source_id=7)
        assert service.award(db, **args) and not service.award(db, **args)
    with courtyard_community.session() as db:
        assert len(db.scalars(select(LedgerEntry)).all()) == 1

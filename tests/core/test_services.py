"""Domain services, without Flask: rights, places, sessions, sign-in links, events."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core import events
from core.catalog import Catalog
from core.db import Base, make_engine, make_sessionmaker, session_scope
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.models import AgendaItem, ConsultationSession, Member, Place
from core.models.member import Role
from core.plugins import make_plugin_manager
from core.services import auth, categories, communities as cs, sessions as ss


@pytest.fixture
def factory(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'core.db'}")
    Base.metadata.create_all(engine)
    return make_sessionmaker(engine)


@pytest.fixture
def catalog():
    return Catalog(make_plugin_manager(entrypoints=False))


@pytest.fixture
def village(factory):
    with session_scope(factory) as db:
        c = cs.create_community(db, slug="renfu", names={"zh_CN": "人福村", "en": "Renfu Village"})
        street = cs.add_place(db, actor=None, community=c, kind="street", name="盛泽镇")
        grid = cs.add_place(db, actor=None, community=c, kind="grid", name="东片", parent=street)
        other = cs.add_place(db, actor=None, community=c, kind="grid", name="西片", parent=street)
        building = cs.add_place(db, actor=None, community=c, kind="building", name="9栋", parent=grid)
        admin = cs.add_member(db, actor=None, community=c, display_name="计菲菲", username="a", password="password1",
                              roles=[(Role.ADMIN, None)])
        head = cs.add_member(db, actor=None, community=c, display_name="沈网格长", roles=[(Role.GRID_HEAD, grid)])
        gran = cs.add_member(db, actor=None, community=c, display_name="王阿婆", place=building,
                             roles=[(Role.RESIDENT, building)])
        far = cs.add_member(db, actor=None, community=c, display_name="陈阿姨", place=other,
                            roles=[(Role.RESIDENT, other)])
        return {"community": c.id, "street": street.id, "grid": grid.id, "building": building.id,
                "admin": admin.id, "head": head.id, "gran": gran.id, "far": far.id}


def test_place_tree_subtree_and_ancestors(factory, village):
    with session_scope(factory) as db:
        street = db.get(Place, village["street"])
        building = db.get(Place, village["building"])
        assert [p.name for p in cs.ancestors(db, building)] == ["盛泽镇", "东片"]
        assert {p.name for p in cs.subtree(db, street)} == {"盛泽镇", "东片", "西片", "9栋"}
        assert {p.name for p in cs.subtree(db, db.get(Place, village["grid"]))} == {"东片", "9栋"}


def test_grid_head_looks_after_residents_below_their_grid_only(factory, village):
    from core.services.access import can_look_after

    with session_scope(factory) as db:
        head = db.get(Member, village["head"])
        assert can_look_after(db, head, db.get(Member, village["gran"]))
        assert not can_look_after(db, head, db.get(Member, village["far"]))
        assert can_look_after(db, db.get(Member, village["admin"]), db.get(Member, village["far"]))


def test_sign_in_link_works_once_and_expires(factory, village, clock):
    with session_scope(factory) as db:
        head = db.get(Member, village["head"])
        token = auth.issue_sign_in_token(db, actor=head, member=db.get(Member, village["gran"]), now=clock())
        late = auth.issue_sign_in_token(db, actor=head, member=db.get(Member, village["gran"]), now=clock())
    with session_scope(factory) as db:
        assert auth.redeem_sign_in_token(db, token=token, now=clock()).display_name == "王阿婆"
    with session_scope(factory) as db, pytest.raises(Forbidden):
        auth.redeem_sign_in_token(db, token=token, now=clock())
    clock.advance(days=8)
    with session_scope(factory) as db, pytest.raises(Forbidden):
        auth.redeem_sign_in_token(db, token=late, now=clock())


def test_a_grid_head_cannot_issue_links_for_another_grid(factory, village):
    with session_scope(factory) as db, pytest.raises(Forbidden):
        auth.issue_sign_in_token(db, actor=db.get(Member, village["head"]), member=db.get(Member, village["far"]))


def test_passwords_are_hashed_and_checked(factory, village):
    with session_scope(factory) as db:
        admin = db.get(Member, village["admin"])
        assert admin.password_hash.startswith("$argon2")
        assert auth.authenticate(db, username="a", password="password1").id == admin.id
        assert auth.authenticate(db, username="a", password="wrong-one") is None
        assert auth.authenticate(db, username="nobody", password="password1") is None


def test_session_lifecycle_and_join_code(factory, village, catalog, clock):
    with session_scope(factory) as db:
        c = db.get(Member, village["admin"])
        community = cs.list_communities(db)[0]
        s = ss.create_session(db, actor=c, catalog=catalog, community=community, format_key="courtyard_talk",
                              title="5G进万家", starts_at=clock() + timedelta(days=1), agenda=["开场", "讨论"],
                              now=clock())
        assert s.status == "draft" and s.join_code is None
        assert [a.title for a in s.agenda] == ["开场", "讨论"]
        assert s.capacity == 12  # the format's default
        ss.change_status(db, actor=c, session=s, status="scheduled")
        code = s.join_code
        assert len(code) == 8 and set(code) <= set(ss.JOIN_CODE_ALPHABET)
        assert ss.session_by_join_code(db, code.lower()).id == s.id
        with pytest.raises(Conflict):
            ss.change_status(db, actor=c, session=s, status="closed")
        ss.change_status(db, actor=c, session=s, status="live")
        ss.change_status(db, actor=c, session=s, status="closed")
        assert s.join_code is None
        with pytest.raises(NotFound):
            ss.session_by_join_code(db, code)


def test_residents_cannot_schedule_and_bad_fields_name_themselves(factory, village, catalog, clock):
    with session_scope(factory) as db:
        community = cs.list_communities(db)[0]
        gran = db.get(Member, village["gran"])
        admin = db.get(Member, village["admin"])
        with pytest.raises(Forbidden):
            ss.create_session(db, actor=gran, catalog=catalog, community=community, format_key="courtyard_talk",
                              title="t", starts_at=clock())
        cases = [
            (dict(format_key="nonsense"), "format_key"),
            (dict(category_key="sports"), "category_key"),
            (dict(ends_at=clock() - timedelta(hours=1)), "ends_at"),
            (dict(ends_at=clock() + timedelta(hours=13)), "ends_at"),
            (dict(capacity=0), "capacity"),
            (dict(title="  "), "title"),
            (dict(status="scheduled", starts_at=clock() - timedelta(days=1)), "starts_at"),
        ]
        for overrides, field in cases:
            args = dict(format_key="courtyard_talk", title="t", starts_at=clock(), now=clock())
            args.update(overrides)
            with pytest.raises((Invalid, NotFound)) as err:
                ss.create_session(db, actor=admin, catalog=catalog, community=community, **args)
            assert err.value.field == field, overrides
        assert db.scalar(select(func.count()).select_from(ConsultationSession)) == 0


def test_two_staff_editing_at_once_conflict(factory, village, catalog, clock):
    with session_scope(factory) as db:
        admin = db.get(Member, village["admin"])
        s = ss.create_session(db, actor=admin, catalog=catalog, community=cs.list_communities(db)[0],
                              format_key="courtyard_talk", title="t", starts_at=clock() + timedelta(days=1))
        version = s.version
        ss.update_session(db, actor=admin, catalog=catalog, session=s, changes={"title": "A"},
                          expected_version=version)
        with pytest.raises(Conflict):
            ss.update_session(db, actor=admin, catalog=catalog, session=s, changes={"title": "B"},
                              expected_version=version)
        assert s.title == "A"


def test_agenda_positions_follow_on(factory, village, catalog, clock):
    with session_scope(factory) as db:
        admin = db.get(Member, village["admin"])
        s = ss.create_session(db, actor=admin, catalog=catalog, community=cs.list_communities(db)[0],
                              format_key="golden_microphone", title="t", starts_at=clock() + timedelta(days=1),
                              agenda=["一"])
        ss.add_agenda_item(db, actor=admin, catalog=catalog, session=s, title="二", category_key="environment")
        items = db.scalars(select(AgendaItem).order_by(AgendaItem.position)).all()
        assert [(i.position, i.title) for i in items] == [(1, "一"), (2, "二")]


def test_custom_categories_join_the_plugin_ones(factory, village, catalog):
    with session_scope(factory) as db:
        community = cs.list_communities(db)[0]
        admin = db.get(Member, village["admin"])
        categories.create_category(db, actor=admin, catalog=catalog, community=community, key="safety",
                                   names={"zh_CN": "平安", "en": "Safety"}, color="#7c3aed")
        keys = [c.key for c in categories.list_categories(db, catalog, community)]
        assert keys == ["livelihood", "finance", "healthcare", "environment", "culture", "safety"]
        with pytest.raises(Conflict):
            categories.create_category(db, actor=admin, catalog=catalog, community=community, key="finance",
                                       names={"zh_CN": "x", "en": "x"})
        with pytest.raises(Forbidden):
            categories.create_category(db, actor=db.get(Member, village["gran"]), catalog=catalog,
                                       community=community, key="x", names={"zh_CN": "x", "en": "x"})


def test_lifecycle_hooks_fire_after_commit_only(factory, village, catalog, clock):
    seen = []
    events.install(factory, lambda hook, community_id, kwargs: seen.append((hook, kwargs["new_status"])))
    with session_scope(factory) as db:
        admin = db.get(Member, village["admin"])
        s = ss.create_session(db, actor=admin, catalog=catalog, community=cs.list_communities(db)[0],
                              format_key="courtyard_talk", title="t", starts_at=clock() + timedelta(days=1))
        ss.change_status(db, actor=admin, session=s, status="scheduled")
        assert seen == []  # not before the commit
    assert seen == [("courtyard_session_status_changed", "scheduled")]
    with pytest.raises(RuntimeError):
        with session_scope(factory) as db:
            s = db.scalars(select(ConsultationSession)).one()
            ss.change_status(db, actor=None, session=s, status="live")
            raise RuntimeError("the request failed later")
    assert seen == [("courtyard_session_status_changed", "scheduled")]  # rolled back: nothing sent

"""A community plugin that raises or hangs in a notification hook cannot take the
meeting down: it is logged by name, the change stays committed, the other plugins still
run, and after repeated failures it is blocked in that community (only) with a notice
to the admins."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from core.db import session_scope, utcnow
from core.models import Community, ConsultationSession, Notification
from core.plugins import FailureTracker, HookTimeout, hookimpl, make_plugin_manager, notify
from core.services import plugins as plugin_settings
from core.services import sessions as sessions_service


class Exploding:
    plugin_name = "exploding"

    def __init__(self) -> None:
        self.calls = 0

    @hookimpl
    def courtyard_session_status_changed(self, session, new_status):
        self.calls += 1
        raise RuntimeError("the plugin's own bug")


class Hanging:
    plugin_name = "hanging"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = 0

    @hookimpl
    def courtyard_session_status_changed(self, session):
        self.entered += 1
        self.release.wait(30)  # released by the test's teardown; never a real 30 s


class Recorder:
    plugin_name = "recorder"

    def __init__(self) -> None:
        self.seen: list[tuple[int, str]] = []

    @hookimpl
    def courtyard_session_status_changed(self, session, old_status, new_status):
        self.seen.append((session.id, new_status))


def _schedule_three(app, community) -> list[int]:
    cy = app.extensions["courtyard"]
    ids = []
    with session_scope(cy.sessionmaker) as db:
        c = db.get(Community, community.id)
        for i in range(3):
            s = sessions_service.create_session(db, actor=None, catalog=cy.catalog, community=c,
                                                format_key="courtyard_talk", title=f"茶话会 {i}",
                                                starts_at=utcnow() + timedelta(days=i + 1))
            ids.append(s.id)
    return ids


def _move(app, session_id: int, status: str) -> None:
    cy = app.extensions["courtyard"]
    with session_scope(cy.sessionmaker) as db:
        sessions_service.change_status(db, actor=None, session=db.get(ConsultationSession, session_id), status=status)


def _status(app, session_id: int) -> str:
    with session_scope(app.extensions["courtyard"].sessionmaker) as db:
        return db.get(ConsultationSession, session_id).status


def test_a_raising_plugin_is_logged_counted_and_blocked_in_that_community_only(courtyard_make_app,
                                                                                courtyard_make_community, caplog):
    exploding, recorder = Exploding(), Recorder()
    app = courtyard_make_app([exploding, recorder])
    renfu = courtyard_make_community("renfu", app=app)
    other = courtyard_make_community("haitang", app=app)
    renfu_sessions = _schedule_three(app, renfu)
    other_session = _schedule_three(app, other)[0]

    caplog.set_level(logging.ERROR, logger="courtyard")
    for sid in renfu_sessions:
        _move(app, sid, "scheduled")
        assert _status(app, sid) == "scheduled"  # the change stayed committed
    assert exploding.calls == 3
    assert [s for s, _ in recorder.seen] == renfu_sessions  # the others still ran
    assert "plugin exploding raised in courtyard_session_status_changed" in caplog.text
    assert "blocking plugin exploding in community" in caplog.text

    cy = app.extensions["courtyard"]
    with session_scope(cy.sessionmaker) as db:
        assert not plugin_settings.enabled_checker(db, renfu.id, cy.pm)("exploding")
        assert plugin_settings.enabled_checker(db, other.id, cy.pm)("exploding")
        notices = db.scalars(select(Notification).where(Notification.kind == "plugin_blocked")).all()
        assert [n.member_id for n in notices] == [renfu.members["admin"]]
        assert notices[0].params == {"plugin": "exploding"}

    _move(app, renfu_sessions[0], "live")  # blocked here: not called any more
    assert exploding.calls == 3
    _move(app, other_session, "scheduled")  # the other community still calls it
    assert exploding.calls == 4
    assert recorder.seen[-1] == (other_session, "scheduled")


def test_the_admin_page_shows_the_block_and_re_enabling_clears_it(courtyard_make_app, courtyard_make_community):
    exploding = Exploding()
    app = courtyard_make_app([exploding])
    renfu = courtyard_make_community("renfu", app=app)
    for sid in _schedule_three(app, renfu):
        _move(app, sid, "scheduled")
    client = app.test_client()
    token = renfu.login(client, "admin")
    page = client.get(f"/c/{renfu.slug}/admin/plugins?lang=en").get_data(as_text=True)
    row = page.split('data-plugin="exploding"', 1)[1].split("</tr>", 1)[0]
    assert "Blocked after repeated failures" in row
    assert "Last error: RuntimeError: " in row  # the admin sees why, to tell the plugin's authors
    client.post(f"/c/{renfu.slug}/admin/plugins", data={"csrf_token": token, "plugin": "exploding", "enabled": "1"})
    cy = app.extensions["courtyard"]
    with session_scope(cy.sessionmaker) as db:
        assert plugin_settings.enabled_checker(db, renfu.id, cy.pm)("exploding")


def test_a_hanging_plugin_times_out_and_the_request_goes_on(courtyard_make_app, courtyard_make_community, caplog):
    hanging, recorder = Hanging(), Recorder()
    app = courtyard_make_app([hanging, recorder], PLUGIN_HOOK_TIMEOUT=0.05)
    try:
        renfu = courtyard_make_community("renfu", app=app)
        sids = _schedule_three(app, renfu)
        caplog.set_level(logging.ERROR, logger="courtyard")
        for sid in sids:
            _move(app, sid, "scheduled")
        assert [_status(app, sid) for sid in sids] == ["scheduled"] * 3
        assert hanging.entered == 3
        assert [s for s, _ in recorder.seen] == sids
        assert "plugin hanging did not answer courtyard_session_status_changed within 0.05s" in caplog.text
        cy = app.extensions["courtyard"]
        with session_scope(cy.sessionmaker) as db:
            row = plugin_settings.settings_for(db, renfu.id)["hanging"]
            assert row.blocked_reason.startswith("HookTimeout")
    finally:
        hanging.release.set()


def test_built_ins_run_inline_and_community_plugins_on_a_budget():
    pm = make_plugin_manager(entrypoints=False)
    seen: list[str] = []

    class Slow:
        @hookimpl
        def courtyard_notification_sent(self, notification):
            seen.append(threading.current_thread().name)
            Slow.release.wait(5)

    Slow.release = threading.Event()
    pm.register(Slow(), name="slow")
    try:
        failures: list[tuple[str, BaseException]] = []
        failed = notify(pm, "courtyard_notification_sent", notification=None, timeout=0.02,
                        on_failure=lambda name, exc: failures.append((name, exc)))
        assert failed == ["slow"] and isinstance(failures[0][1], HookTimeout)
        assert seen == ["courtyard-hook:slow.courtyard_notification_sent"]
    finally:
        Slow.release.set()
    failed = notify(pm, "courtyard_notification_sent", notification=None, timeout=0.02,
                    trusted=lambda name: name == "slow")
    assert failed == [] and seen[-1] == threading.current_thread().name


def test_the_failure_tracker_trips_after_three_in_a_row_and_resets_on_success():
    tracker = FailureTracker()
    assert not tracker.failed("p", 1) and not tracker.failed("p", 1)
    tracker.succeeded("p", 1)
    assert not tracker.failed("p", 1) and not tracker.failed("p", 1)
    assert not tracker.failed("p", 2)
    assert tracker.failed("p", 1)


@pytest.fixture(autouse=True)
def _no_leaked_threads():
    before = {t for t in threading.enumerate()}
    yield
    for t in set(threading.enumerate()) - before:
        if t.name.startswith("courtyard-hook:"):
            t.join(2)
            assert not t.is_alive(), f"{t.name} still running"

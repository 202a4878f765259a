"""The expected-rights table: who may call each route and socket event (the one place).

tests/web/test_rights_matrix.py walks the app's own URL map and Socket.IO namespaces and
fails on any route or event that has no entry here, so a new one cannot be forgotten.

An entry says which identities are allowed (a named level, or a set) and what to send:

* ``allowed`` — a level below or a frozenset of identities (tests/web/rights_world.py
  ``IDENTITIES``: anonymous, guest, resident, grid_head, building_head, unit_head, host,
  moderator, department, admin, outsider — the admin of another community).
* ``body`` — the JSON (``/api``) or form (pages) sent; a real, valid one, so a refusal is
  a refusal of the caller and not of the input. A callable gets the world.
* ``params`` — URL values besides the defaults of :func:`default_params` (callable).
* ``fresh`` — the kind of row made for this route alone (``issue``, ``motion_open`` …),
  for routes that change their target for good.
* ``also_ok`` — statuses an allowed caller may get besides 2xx/3xx/400/409 (e.g. 404 for
  "my application" when the caller has none).
* ``holes`` — identities the table refuses but today's code lets through, each with the
  reason naming the issue's hole and the branch that fixes it (run as strict xfail).

Levels (the least right, in the council's words):
ANYONE — no sign-in needed; SIGNED_IN — any signed-in member of any community (their own
account); MEMBER — any member of this community (not a guest, not another community's);
LOOKS_AFTER — staff, or a grid/building/unit head over the resident's home; ORGANISER —
staff, hosts and grid heads; RUNS — the session's (or motion's) host and staff; STAFF —
admin and moderator; ADMIN — admin only; OWNER — the member the row belongs to (and staff
where the docs say so). Socket events: PARTICIPANT — anyone who joined the live session
(guests included); ROOM_HOST — the session's host and staff in the room.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

MEMBERS = frozenset({"resident", "grid_head", "building_head", "unit_head", "host", "moderator", "department",
                     "admin"})
ANYONE = frozenset({"anonymous", "guest", "outsider"}) | MEMBERS
SIGNED_IN = MEMBERS | {"outsider"}
STAFF = frozenset({"moderator", "admin"})
ADMIN = frozenset({"admin"})
RUNS = STAFF | {"host"}
ORGANISER = STAFF | {"host", "grid_head"}
LOOKS_AFTER = STAFF | {"grid_head", "building_head", "unit_head"}
PARTICIPANT = MEMBERS | {"guest", "outsider"}  # the outsider joins a guests-welcome session as a guest
ROOM_HOST = RUNS
NOBODY: frozenset[str] = frozenset()
#: members whose home is at or under the issue's place (the unit) or above it on its branch
ON_BRANCH = frozenset({"resident", "grid_head", "building_head", "unit_head", "host"})


@dataclass(frozen=True)
class Entry:
    allowed: frozenset[str]
    body: Any = None
    params: Callable[[Any], dict[str, Any]] | None = None
    fresh: str | None = None
    also_ok: frozenset[int] = frozenset()
    holes: dict[str, str] = field(default_factory=dict)
    #: what counts as a refusal here besides 401/403/404 (e.g. 409 "not before the vote closes")
    also_refused: frozenset[int] = frozenset()
    fresh_client: bool = False
    note: str = ""


def E(allowed: frozenset[str], body: Any = None, **kw: Any) -> Entry:
    for key in ("also_ok", "also_refused"):
        if key in kw:
            kw[key] = frozenset(kw[key])
    return Entry(allowed, body, **kw)


def default_params(w: Any) -> dict[str, Any]:
    """What each URL variable names unless an entry says otherwise: rows of ``renfu``."""
    return {"slug": w.slug, "session_id": w.session_id, "motion_id": w.motion_open, "issue_id": w.issue_id,
            "photo_id": w.photo_id, "series_id": w.series_id, "slot_id": w.slots[1]["id"],
            "member_id": w.ids["resident"], "name": "voting", "code": w.code, "token": w.sign_in_token,
            "receipt": w.receipt, "filename": "live.js", "action": "support"}




def _rota_version(w: Any) -> dict[str, Any]:
    return {"version": None}


# (METHOD, rule) -> Entry, or a dict label -> Entry for several cases of one route
ROUTES: dict[tuple[str, str], Any] = {
    # -- public pages and reads (core) -------------------------------------
    ("GET", "/"): E(ANYONE),
    ("GET", "/api/openapi.json"): E(ANYONE),
    ("GET", "/api/v1/communities"): E(ANYONE),
    ("GET", "/api/v1/communities/<slug>"): E(ANYONE),
    ("GET", "/api/v1/communities/<slug>/categories"): E(ANYONE),
    ("GET", "/api/v1/communities/<slug>/formats"): E(ANYONE),
    ("GET", "/api/v1/communities/<slug>/plugins"): E(ANYONE),
    ("GET", "/api/v1/communities/<slug>/sessions"): E(ANYONE),
    ("GET", "/api/v1/communities/<slug>/sessions/<int:session_id>"): E(ANYONE),
    ("GET", "/c/<slug>"): E(ANYONE),
    ("GET", "/c/<slug>/sessions/<int:session_id>"): E(ANYONE),
    ("GET", "/j/<code>"): E(ANYONE),
    ("GET", "/join"): E(ANYONE),
    # -- signing in and preferences (core) -----------------------------------
    ("GET", "/sign-in"): E(ANYONE),
    ("POST", "/sign-in"): E(ANYONE, {"username": "renfu-resident2", "password": "correct horse battery"},
                            fresh_client=True),
    ("GET", "/s/<token>"): E(ANYONE, params=lambda w: {"token": w.new_sign_in_token()}),
    ("POST", "/s/<token>"): E(ANYONE, {}, fresh_client=True, params=lambda w: {"token": w.new_sign_in_token()},
                              note="anyone holding a (new) link signs in with it"),
    ("POST", "/sign-out"): E(ANYONE, {}, fresh_client=True),
    ("POST", "/large-text"): E(ANYONE, {"next": "/"}),
    ("GET", "/lang/<code>"): E(ANYONE, params=lambda w: {"code": "zh_CN"}),
    ("POST", "/c/<slug>/members/<int:member_id>/sign-in-link"): {
        "resident": E(LOOKS_AFTER, {}),
        "staff member": E(ADMIN, {}, params=lambda w: {"member_id": w.ids["host"]}),
    },
    ("POST", "/api/v1/communities/<slug>/sign-in-links"): {
        "resident": E(LOOKS_AFTER, lambda w: {"member_id": w.ids["resident"]}),
        "staff member": E(ADMIN, lambda w: {"member_id": w.ids["host"]}),
    },
    ("GET", "/api/v1/communities/<slug>/sign-in-links"): E(ADMIN, note="the record of issued sign-in links"),
    ("GET", "/c/<slug>/admin/sign-in-links"): E(ADMIN, note="the record of issued sign-in links"),
    ("POST", "/c/<slug>/admin/members/<int:member_id>/sign-out"): E(
        ADMIN, {}, params=lambda w: {"member_id": w.ids["other_resident"]},
        note="ends every sign-in of that member, on every device"),
    ("GET", "/c/<slug>/residents"): E(LOOKS_AFTER, note="the residents one looks after, with their sign-in cards"),
    ("GET", "/api/v1/me"): E(SIGNED_IN),
    ("PATCH", "/api/v1/me"): E(SIGNED_IN, {"large_text": False}),
    ("GET", "/api/v1/me/notifications"): E(SIGNED_IN),
    # -- community settings (core) -----------------------------------------
    ("POST", "/api/v1/communities/<slug>/categories"): E(
        STAFF, {"key": "matrix", "names": {"zh_CN": "矩阵", "en": "Matrix"}}, also_ok={409}),
    ("PUT", "/api/v1/communities/<slug>/plugins/<name>"): E(ADMIN, {"enabled": True}),
    ("GET", "/c/<slug>/admin/plugins"): E(ADMIN),
    ("POST", "/c/<slug>/admin/plugins"): E(ADMIN, {"plugin": "voting", "enabled": "1"}),
    # -- sessions (core) ---------------------------------------------------
    ("POST", "/api/v1/communities/<slug>/sessions"): E(
        ORGANISER - {"grid_head"},
        {"format_key": "courtyard_talk", "title": "矩阵测试", "starts_at": "2026-04-01T06:00:00+00:00"},
        note="create_session's docstring names grid heads too, but a grid head's role is bound to a grid and "
        "create_session asks for it community-wide, so no grid head can: reported, not changed here"),
    ("PATCH", "/api/v1/communities/<slug>/sessions/<int:session_id>"): E(RUNS, {"venue": "村委会"}),
    ("POST", "/api/v1/communities/<slug>/sessions/<int:session_id>/status"): E(RUNS, {"status": "live"}),
    ("POST", "/api/v1/communities/<slug>/sessions/<int:session_id>/agenda"): E(RUNS, {"title": "加一项"}),
    # -- live discussion (plugin discussion) -------------------------------
    ("GET", "/live/<code>"): E(ANYONE, note="this session admits guests"),
    ("GET", "/live/<code>/print"): E(RUNS, note="the join code printed for the room"),
    ("GET", "/c/<slug>/sessions/<int:session_id>/minutes"): E(MEMBERS),
    ("GET", "/c/<slug>/sessions/<int:session_id>/minutes.csv"): E(MEMBERS),
    ("GET", "/c/<slug>/sessions/<int:session_id>/minutes.json"): E(MEMBERS),
    # -- voting (plugin voting) --------------------------------------------
    ("GET", "/api/v1/communities/<slug>/motions"): E(ANYONE),
    ("GET", "/api/v1/communities/<slug>/motions/<int:motion_id>"): E(ANYONE),
    ("POST", "/api/v1/communities/<slug>/motions"): E(
        RUNS, lambda w: {"title": "矩阵表决", "method": "majority", "session_id": w.session_id}),
    ("POST", "/api/v1/communities/<slug>/motions/<int:motion_id>/open"): E(RUNS, {}, fresh="motion_draft"),
    ("POST", "/api/v1/communities/<slug>/motions/<int:motion_id>/close"): E(RUNS, {}, fresh="motion_open"),
    ("POST", "/api/v1/communities/<slug>/motions/<int:motion_id>/ballots"): {
        "own vote": E(MEMBERS, {"ballot": {"choice": "yes"}}, fresh="motion_open"),
        "assisted, for a resident never present": E(
            NOBODY, lambda w: {"ballot": {"choice": "no"}, "member_id": w.ids["other_resident"]},
            fresh="motion_open",
            also_refused={409, 422}, note="an assisted vote needs the resident checked in at the session"),
    },
    ("POST", "/api/v1/communities/<slug>/motions/<int:motion_id>/check-in"): E(
        RUNS, lambda w: {"member_id": w.ids["resident"]}, fresh="motion_open",
        note="the host checks a resident in at the door, so their vote can be recorded for them"),
    ("POST", "/c/<slug>/motions/<int:motion_id>/check-in"): E(
        RUNS, lambda w: {"member_id": str(w.ids["resident"])}, fresh="motion_open"),
    ("GET", "/api/v1/communities/<slug>/motions/<int:motion_id>/my-ballot"): E(MEMBERS),
    ("GET", "/api/v1/communities/<slug>/motions/<int:motion_id>/receipts"): E(
        ANYONE, params=lambda w: {"motion_id": w.motion_closed}),
    ("GET", "/api/v1/communities/<slug>/motions/<int:motion_id>/receipts/<receipt>"): E(
        ANYONE, params=lambda w: {"motion_id": w.motion_closed}),
    ("GET", "/api/v1/communities/<slug>/motions/<int:motion_id>/results"): E(
        ANYONE, params=lambda w: {"motion_id": w.motion_closed}),
    ("GET", "/api/v1/communities/<slug>/motions/<int:motion_id>/verify"): {
        "closed": E(STAFF, params=lambda w: {"motion_id": w.motion_closed}),
        "open, results hidden until close": E(
            STAFF, note="the integrity check only: the recount is left out before close "
                        "(tests/plugins/voting/test_voting_hidden_results.py)"),
    },
    ("PUT", "/api/v1/communities/<slug>/representatives"): E(STAFF, lambda w: {"member_ids": [w.ids["resident2"]]}),
    ("GET", "/c/<slug>/motions"): E(ANYONE),
    ("GET", "/c/<slug>/motions/new"): E(RUNS),
    ("POST", "/c/<slug>/motions"): E(RUNS, lambda w: {"title": "矩阵表决", "method": "majority",
                                                     "session_id": str(w.session_id)}),
    ("GET", "/c/<slug>/motions/<int:motion_id>"): E(ANYONE),
    ("POST", "/c/<slug>/motions/<int:motion_id>/open"): E(RUNS, {}, fresh="motion_draft"),
    ("POST", "/c/<slug>/motions/<int:motion_id>/close"): E(RUNS, {}, fresh="motion_open"),
    ("POST", "/c/<slug>/motions/<int:motion_id>/vote"): E(MEMBERS, {"choice": "yes"}, fresh="motion_open"),
    ("GET", "/c/<slug>/motions/<int:motion_id>/results"): E(ANYONE, params=lambda w: {"motion_id": w.motion_closed}),
    ("GET", "/c/<slug>/motions/<int:motion_id>/results.csv"): E(
        ANYONE, params=lambda w: {"motion_id": w.motion_closed}),
    ("GET", "/c/<slug>/motions/<int:motion_id>/receipts"): E(ANYONE, params=lambda w: {"motion_id": w.motion_closed}),
    # -- issues (plugin issues) --------------------------------------------
    ("GET", "/api/v1/communities/<slug>/issues"): E(MEMBERS),
    ("POST", "/api/v1/communities/<slug>/issues"): E(
        MEMBERS, lambda w: {"title": "井盖松动", "category_key": "livelihood", "place_id": w.place_ids["unit"]}),
    ("GET", "/api/v1/communities/<slug>/issues/<int:issue_id>"): E(MEMBERS - {"department"},
                                                                  note="a department sees the issues given to it"),
    ("PATCH", "/api/v1/communities/<slug>/issues/<int:issue_id>"): E(STAFF | {"resident"}, {"title": "楼道灯坏了两盏"},
                                                                    fresh="issue"),
    ("POST", "/api/v1/communities/<slug>/issues/<int:issue_id>/support"): E(
        ON_BRANCH, {}, fresh="issue", note="members living on the branch of the issue's place"),
    ("POST", "/api/v1/communities/<slug>/issues/<int:issue_id>/triage"): E(
        STAFF | {"grid_head"}, {"decision": "accept"}, fresh="issue"),
    ("POST", "/api/v1/communities/<slug>/issues/<int:issue_id>/assign"): E(
        STAFF, lambda w: {"department_member_id": w.ids["department"], "due_in_days": 7}, fresh="issue_accepted"),
    ("POST", "/api/v1/communities/<slug>/issues/<int:issue_id>/reply"): E(
        STAFF | {"department"}, {"body": "已派人处理"}, fresh="issue_assigned"),
    ("POST", "/api/v1/communities/<slug>/issues/<int:issue_id>/resolve"): E(
        STAFF | {"department"}, {}, fresh="issue_assigned"),
    ("POST", "/api/v1/communities/<slug>/issues/<int:issue_id>/rate"): E(
        frozenset({"resident", "unit_head"}), {"score": 4}, fresh="issue_resolved",
        note="its resident, supporters and residents living at its place (the unit head lives there)"),
    ("POST", "/api/v1/communities/<slug>/issues/<int:issue_id>/reopen"): E(STAFF, {}, fresh="issue_resolved"),
    ("POST", "/api/v1/communities/<slug>/issues/<int:issue_id>/close"): E(STAFF, {}, fresh="issue_resolved"),
    ("POST", "/api/v1/communities/<slug>/issues/<int:issue_id>/merge"): E(
        STAFF, lambda w: {"into_id": w.other_issue_id}, fresh="issue"),
    ("GET", "/api/v1/communities/<slug>/issues/dashboard"): E(MEMBERS),
    ("GET", "/api/v1/communities/<slug>/issues/dashboard.csv"): E(MEMBERS),
    ("GET", "/api/v1/communities/<slug>/issues/review"): E(MEMBERS),
    ("GET", "/api/v1/communities/<slug>/outside-bodies"): E(MEMBERS),
    ("POST", "/api/v1/communities/<slug>/outside-bodies"): E(STAFF, {"name": "自来水公司"}),
    ("GET", "/c/<slug>/issues"): E(MEMBERS),
    ("GET", "/c/<slug>/issues/new"): E(MEMBERS),
    ("POST", "/c/<slug>/issues/new"): E(MEMBERS, lambda w: {
        "title": "垃圾桶满了", "category_key": "livelihood", "place_id": str(w.place_ids["unit"])}),
    ("GET", "/c/<slug>/issues/<int:issue_id>"): E(MEMBERS - {"department"}),
    ("POST", "/c/<slug>/issues/<int:issue_id>/edit"): E(STAFF | {"resident"}, {"title": "楼道灯又坏了"},
                                                        fresh="issue"),
    ("POST", "/c/<slug>/issues/<int:issue_id>/<action>"): {
        "support": E(ON_BRANCH, {}, fresh="issue",
                     params=lambda w: {"action": "support"}),
        "triage": E(STAFF | {"grid_head"}, {"decision": "accept"}, fresh="issue",
                    params=lambda w: {"action": "triage"}),
        "close": E(STAFF, {}, fresh="issue_resolved", params=lambda w: {"action": "close"}),
    },
    ("GET", "/c/<slug>/issues/<int:issue_id>/photos/<int:photo_id>"): E(MEMBERS - {"department"}),
    ("GET", "/c/<slug>/issues/dashboard"): E(MEMBERS),
    ("GET", "/c/<slug>/issues/dashboard.csv"): E(MEMBERS),
    ("GET", "/c/<slug>/issues/review"): E(MEMBERS),
    ("POST", "/c/<slug>/issues/review"): E(RUNS, lambda w: {"session_id": str(w.review_session_id)}),
    # -- the courtyard rota (plugin host_rotation) --------------------------
    ("GET", "/api/v1/communities/<slug>/rotation/series"): E(ANYONE),
    ("POST", "/api/v1/communities/<slug>/rotation/series"): E(STAFF, {"title": "矩阵茶话会", "weekdays": [6]}),
    ("GET", "/api/v1/communities/<slug>/rotation/series/<int:series_id>/plan"): E(MEMBERS),
    ("POST", "/api/v1/communities/<slug>/rotation/series/<int:series_id>/plan"): E(
        STAFF, {"month": "2026-04"}, fresh="series"),
    ("POST", "/api/v1/communities/<slug>/rotation/series/<int:series_id>/applications"): E(
        MEMBERS, {"venue_address": "人福村 8 号", "seats": 6, "topic": "聊聊停车", "dates": ["2026-03-14"]},
        fresh="series"),
    ("POST", "/api/v1/communities/<slug>/rotation/series/<int:series_id>/applications/mine/withdraw"): E(
        frozenset({"resident", "host"}), {}, fresh="series_applied", note="one's own application (both applied)"),
    ("POST", "/api/v1/communities/<slug>/rotation/slots/<int:slot_id>/confirm"): E(
        frozenset({"resident"}), {}, fresh="slot", note="the proposed host only"),
    ("POST", "/api/v1/communities/<slug>/rotation/slots/<int:slot_id>/decline"): E(
        frozenset({"resident"}), {}, fresh="slot", note="the proposed host only"),
    ("POST", "/api/v1/communities/<slug>/rotation/slots/<int:slot_id>/swap"): E(
        STAFF | {"resident", "host"}, lambda w: {"other_slot_id": w.partner_slot}, fresh="slot",
        note="staff or one of the two hosts"),
    ("POST", "/api/v1/communities/<slug>/rotation/slots/<int:slot_id>/override"): E(
        STAFF, lambda w: {"host_id": w.ids["host"]}, fresh="slot"),
    ("POST", "/api/v1/communities/<slug>/rotation/slots/<int:slot_id>/cancel"): E(STAFF, {}, fresh="slot"),
    ("GET", "/api/v1/communities/<slug>/rotation/sessions/<int:session_id>"): E(
        ANYONE, params=lambda w: {"session_id": w.talk_id}, note="the home address only to seats, host, staff"),
    ("GET", "/api/v1/communities/<slug>/rotation/sessions/<int:session_id>/attendees"): E(
        STAFF | {"grid_head"}, params=lambda w: {"session_id": w.talk_id},
        note="the talk's host (grid_head) and staff"),
    ("POST", "/api/v1/communities/<slug>/rotation/sessions/<int:session_id>/reservations"): E(
        MEMBERS, {"bringing": "茶叶"}, params=lambda w: {"session_id": w.talk_id},
        note="the talk's host (grid_head) is told there is no seat for the host: 409"),
    ("DELETE", "/api/v1/communities/<slug>/rotation/sessions/<int:session_id>/reservations/mine"): E(
        MEMBERS, params=lambda w: {"session_id": w.talk_id}, also_ok={404}, note="one's own seat; 404 without one"),
    ("POST", "/api/v1/communities/<slug>/rotation/calendar-token"): E(MEMBERS, {}),
    ("GET", "/c/<slug>/calendar.ics"): E(ANYONE, note="venue names only"),
    ("GET", "/calendar/<token>.ics"): E(ANYONE, params=lambda w: {"token": w.calendar_token},
                                        note="whoever holds the secret feed link"),
    ("GET", "/c/<slug>/courtyard/"): E(MEMBERS),
    ("POST", "/c/<slug>/courtyard/"): E(STAFF, {"title": "矩阵茶话会", "weekdays": "6"}),
    ("GET", "/c/<slug>/courtyard/<int:series_id>"): E(MEMBERS),
    ("GET", "/c/<slug>/courtyard/<int:series_id>/print"): E(
        MEMBERS, note="the sheet of the members-only plan: it names hosts proposed, not yet confirmed"),
    ("POST", "/c/<slug>/courtyard/<int:series_id>/plan"): E(STAFF, {"month": "2026-04"}, fresh="series"),
    ("GET", "/c/<slug>/courtyard/<int:series_id>/apply"): E(MEMBERS),
    ("POST", "/c/<slug>/courtyard/<int:series_id>/apply"): E(
        MEMBERS, {"venue_address": "人福村 8 号", "seats": "6", "topic": "聊聊停车", "dates": "2026-03-14"},
        fresh="series"),
    ("POST", "/c/<slug>/courtyard/<int:series_id>/withdraw"): E(frozenset({"resident", "host"}), {},
                                                                fresh="series_applied"),
    ("GET", "/c/<slug>/courtyard/calendar"): E(MEMBERS),
    ("POST", "/c/<slug>/courtyard/calendar"): E(MEMBERS, {}),
    ("GET", "/c/<slug>/courtyard/sessions/<int:session_id>"): E(ANYONE, params=lambda w: {"session_id": w.talk_id}),
    ("POST", "/c/<slug>/courtyard/sessions/<int:session_id>/reserve"): E(
        MEMBERS, {"bringing": "茶叶"}, params=lambda w: {"session_id": w.talk_id}),
    ("POST", "/c/<slug>/courtyard/sessions/<int:session_id>/cancel"): E(
        MEMBERS, {}, params=lambda w: {"session_id": w.talk_id}, also_ok={404}),
    ("POST", "/c/<slug>/courtyard/slots/<int:slot_id>/<action>"): {
        "confirm": E(frozenset({"resident"}), {}, fresh="slot", params=lambda w: {"action": "confirm"}),
        "override": E(STAFF, lambda w: {"host_id": str(w.ids["host"])}, fresh="slot",
                      params=lambda w: {"action": "override"}),
        "cancel": E(STAFF, {}, fresh="slot", params=lambda w: {"action": "cancel"}),
    },
}

CID = {"cid": "x"}  # the test gives every emit a cid of its own

# (namespace, event) -> Entry
EVENTS: dict[tuple[str, str], Any] = {
    ("/live", "join"): E(MEMBERS, lambda w: {"code": w.members_code},
                         note="a session that admits no guests: its community's members only"),
    ("/live", "sync"): E(PARTICIPANT, {"since": 0}),
    ("/live", "state"): E(PARTICIPANT, {}),
    ("/live", "message"): E(PARTICIPANT, {**CID, "body": "大家好"}),
    ("/live", "raise_hand"): E(PARTICIPANT, CID),
    ("/live", "lower_hand"): E(PARTICIPANT, CID, also_ok={404}),
    ("/live", "hide"): E(ROOM_HOST, lambda w: {**CID, "message_id": w.live_message_id, "reason": "离题"}),
    ("/live", "grant_floor"): E(ROOM_HOST, lambda w: {**CID, "participant_id": w.live_participant_id}),
    ("/live", "revoke_floor"): E(ROOM_HOST, CID),
    ("/live", "agenda"): E(ROOM_HOST, {**CID, "position": 1}),
    ("/live", "pin"): E(ROOM_HOST, {**CID, "text": "请大家文明发言"}),
    ("/live", "status"): E(ROOM_HOST, {**CID, "status": "live"}),
    ("/vote", "watch"): E(MEMBERS, lambda w: {"motion_id": w.motion_open}),
    ("/vote", "vote"): E(MEMBERS, lambda w: {"motion_id": w.fresh("motion_open", "/vote vote")["motion_id"],
                                             "ballot": {"choice": "yes"}, **CID}),
}

"""The rights matrix: every state-changing route and every listed page or read of the app
(its own URL map: core pages, /api/v1 and every built-in plugin's blueprint) and every
event of every Socket.IO namespace (``on_<event>`` of the namespace objects), called by
every identity — anonymous, a live-session guest, a resident, each role (grid, building
and unit head, host, moderator, department, admin) and the admin of another community.

The expected rights live in one table, tests/web/rights_matrix.py. A route or event with
no entry fails ``test_every_route_has_an_entry`` / ``test_every_socket_event_has_an_entry``,
so a new one cannot be forgotten.

For each (route, identity): a refused identity gets 401, 403 or 404 (a page may instead
send it to the sign-in form) and the database is byte-for-byte what it was (a digest of
every table's rows, before and after); an allowed identity never gets 401/403 and never a
server error. Socket events: a refusal is an error acknowledgement with status 401/403/404
and nothing written; an allowed call is not refused.

CSRF is left ON, as in production, and every identity sends the CSRF token of its own
session (the ``X-CSRFToken`` header, which Flask-WTF reads for forms too). That is the
real attack this matrix is about: a signed-in member (or a stranger) using their own
browser to do more than their role allows. Cross-site forgery itself — a request without
the session's token — is a different attack, refused before any rights are looked at; it
is checked once here (``test_a_post_without_the_sessions_token_is_refused``).

Public reads (GET routes open to anyone) are swept with a stranger, a guest, a resident and
the other community's member only. The rows each route points at are made per module (tests/web/rights_world.py); the cases
of one route run refusals first, then the allowed callers. On SQLite the whole sweep runs;
on PostgreSQL (CI runs both) one representative identity sweep: every route and event as
a resident, and the state-changing ones as the other community's admin.
"""

from __future__ import annotations

import os
import uuid
from typing import Any, Iterator

import pytest

from tests.conftest import Clock, csrf_from, make_app
from tests.web import rights_matrix as rm
from tests.web.rights_world import IDENTITIES, MatrixWorld

WRITES = {"POST", "PUT", "PATCH", "DELETE"}
#: probes: no rights to check (and static files: a blueprint's ``static`` endpoint)
SKIPPED_RULES = {"/healthz", "/readyz"}
REFUSED = {401, 403, 404}
#: who reads a public page in the sweep (it must render for a stranger, a guest, a member
#: and another community's member; the other roles add nothing to a page open to anyone)
PUBLIC_READ_SWEEP = frozenset({"anonymous", "guest", "resident", "outsider"})


def _app(tmp_path: Any, **extra: Any) -> tuple[Any, Clock]:
    clock = Clock()
    app = make_app(tmp_path, VOTING_CLOCK=clock, DISCUSSION_CLOCK=clock, COURTYARD_CLOCK=clock, ISSUES_CLOCK=clock,
                   **extra)
    return app, clock


def app_rules(app: Any) -> list[tuple[str, str, str]]:
    """(method, rule, endpoint) of every route of the app but static files."""
    out = []
    for rule in app.url_map.iter_rules():
        if rule.rule in SKIPPED_RULES or rule.endpoint == "static" or rule.endpoint.endswith(".static"):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            out.append((method, rule.rule, rule.endpoint))
    return sorted(out, key=lambda x: (x[1], x[0]))


def app_events(app: Any) -> list[tuple[str, str]]:
    """(namespace, event) of every ``on_<event>`` handler of every namespace object."""
    out = []
    for namespace, handler in app.extensions["courtyard"].socketio.server.namespace_handlers.items():
        for name in dir(handler):
            if name.startswith("on_") and callable(getattr(handler, name)) and name not in ("on_connect",
                                                                                           "on_disconnect"):
                out.append((namespace, name[3:]))
    return sorted(out)


def cases_of(entry: Any) -> list[tuple[str, rm.Entry]]:
    if isinstance(entry, dict):
        return list(entry.items())
    return [("", entry)]


# ---------------------------------------------------------------------------
# the table covers the app


@pytest.fixture(scope="module")
def bare_app(tmp_path_factory: Any) -> Any:
    return _app(tmp_path_factory.mktemp("bare"))[0]


def test_every_route_has_an_entry(bare_app: Any) -> None:
    missing = [f"{m} {r} ({e})" for m, r, e in app_rules(bare_app) if (m, r) not in rm.ROUTES]
    assert not missing, "routes with no entry in tests/web/rights_matrix.py ROUTES:\n" + "\n".join(missing)
    stale = [f"{m} {r}" for m, r in rm.ROUTES if (m, r) not in {(m2, r2) for m2, r2, _ in app_rules(bare_app)}]
    assert not stale, "entries for routes the app no longer has:\n" + "\n".join(stale)


def test_every_socket_event_has_an_entry(bare_app: Any) -> None:
    events = app_events(bare_app)
    assert ("/live", "message") in events and ("/vote", "vote") in events  # the enumeration itself works
    missing = [f"{ns} {ev}" for ns, ev in events if (ns, ev) not in rm.EVENTS]
    assert not missing, "socket events with no entry in tests/web/rights_matrix.py EVENTS:\n" + "\n".join(missing)
    stale = [f"{ns} {ev}" for ns, ev in rm.EVENTS if (ns, ev) not in events]
    assert not stale, "entries for events the app no longer has:\n" + "\n".join(stale)


# ---------------------------------------------------------------------------
# the sweep


def _http_cases(identities: tuple[str, ...] = IDENTITIES, writes_only_for: frozenset[str] = frozenset()):
    """(id, method, rule, label, entry, identity): per case, refusals first."""
    out = []
    for (method, rule), entry in sorted(rm.ROUTES.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        for label, case in cases_of(entry):
            ordered = sorted(identities, key=lambda i: i in case.allowed)
            if method == "GET" and case.allowed == rm.ANYONE:  # a public read: nobody to refuse
                ordered = [i for i in ordered if i in PUBLIC_READ_SWEEP]
            for identity in ordered:
                if identity in writes_only_for and method not in WRITES:
                    continue
                name = f"{method} {rule}{' [' + label + ']' if label else ''} as {identity}"
                marks = []
                if identity in case.holes:
                    marks.append(pytest.mark.xfail(strict=True, reason=case.holes[identity]))
                out.append(pytest.param(method, rule, label, case, identity, id=name, marks=marks))
    return out


def _event_cases(identities: tuple[str, ...] = IDENTITIES):
    out = []
    for (namespace, event), entry in sorted(rm.EVENTS.items()):
        for label, case in cases_of(entry):
            for identity in sorted(identities, key=lambda i: i in case.allowed):
                name = f"{namespace} {event}{' [' + label + ']' if label else ''} as {identity}"
                marks = []
                if identity in case.holes:
                    marks.append(pytest.mark.xfail(strict=True, reason=case.holes[identity]))
                out.append(pytest.param(namespace, event, label, case, identity, id=name, marks=marks))
    return out


def _url(app: Any, world: MatrixWorld, method: str, rule: str, label: str, case: rm.Entry) -> str:
    values = rm.default_params(world)
    if case.fresh:
        values.update(world.fresh(case.fresh, f"{method} {rule} {label}"))
    if case.params:
        values.update(case.params(world))
    endpoint = next(r.endpoint for r in app.url_map.iter_rules() if r.rule == rule and method in r.methods)
    adapter = app.url_map.bind("courtyard.test")
    url = adapter.build(endpoint, {k: v for k, v in values.items() if f"<{k}>" in rule or f":{k}>" in rule},
                        method=method)
    return url


def prepare(world: MatrixWorld, method: str, rule: str, label: str, case: rm.Entry, identity: str) -> dict[str, Any]:
    """Everything the call needs, made before the database is looked at: the URL (and the
    rows it names), the client and its token, the body."""
    url = _url(world.app, world, method, rule, label, case)
    client, token = world.new_client(identity) if case.fresh_client else world.client(identity)
    body = case.body(world) if callable(case.body) else case.body
    return {"url": url, "client": client, "token": token, "body": body}


def send(method: str, rule: str, p: dict[str, Any]) -> Any:
    client, url, token, body = p["client"], p["url"], p["token"], p["body"]
    headers = {"X-CSRFToken": token}
    if method not in WRITES:
        return client.open(url, method=method, headers=headers)
    if rule.startswith("/api/"):
        return client.open(url, method=method, json=body if body is not None else {}, headers=headers)
    return client.open(url, method=method, data={**(body or {}), "csrf_token": token}, headers=headers)


def call(world: MatrixWorld, method: str, rule: str, label: str, case: rm.Entry, identity: str) -> Any:
    return send(method, rule, prepare(world, method, rule, label, case, identity))


def refused_page(response: Any, also: frozenset[int] = frozenset()) -> bool:
    """A refusal: 401/403/404 (or what the entry adds), or a page that sends the caller to sign in."""
    if response.status_code in REFUSED | also:
        return True
    return response.status_code in (301, 302, 303) and "/sign-in" in response.headers.get("Location", "")


def check_http(world: MatrixWorld, method: str, rule: str, label: str, case: rm.Entry, identity: str) -> None:
    prepared = prepare(world, method, rule, label, case, identity)
    before = world.checksum()
    response = send(method, rule, prepared)
    status = response.status_code
    what = f"{method} {rule} {label} as {identity}: {status} {response.get_data()[:300].decode('utf-8', 'replace')!r}"
    assert status < 500, what
    if identity in case.allowed:
        assert status not in (401, 403), "allowed, but refused — " + what
        if status == 404:
            assert 404 in case.also_ok, "allowed, but not found — " + what
        return
    assert refused_page(response, case.also_refused), "should be refused — " + what
    after = world.checksum()
    changed = sorted(t for t in before if before[t] != after.get(t)) + sorted(set(after) - set(before))
    assert not changed, f"refused, yet tables {changed} changed — " + what


@pytest.fixture(scope="module")
def world(tmp_path_factory: Any) -> Iterator[MatrixWorld]:
    app, clock = _app(tmp_path_factory.mktemp("matrix"))
    w = MatrixWorld(app, clock)
    yield w
    w.close()


@pytest.mark.parametrize("method,rule,label,case,identity", _http_cases())
def test_route_rights(world: MatrixWorld, method: str, rule: str, label: str, case: rm.Entry, identity: str) -> None:
    check_http(world, method, rule, label, case, identity)


# ---------------------------------------------------------------------------
# socket events


def connect(world: MatrixWorld, namespace: str, event: str, case: rm.Entry, identity: str) -> tuple[Any, Any]:
    sc = world.socket(identity, namespace, join=event != "join")
    data = case.body(world) if callable(case.body) else case.body
    if isinstance(data, dict) and "cid" in data:
        data = {**data, "cid": uuid.uuid4().hex}
    return sc, data


def emit_on(sc: Any, namespace: str, event: str, data: Any) -> Any:
    try:
        return sc.emit(event, data, namespace=namespace, callback=True)
    finally:
        if sc.is_connected(namespace):
            sc.disconnect(namespace=namespace)


def emit(world: MatrixWorld, namespace: str, event: str, case: rm.Entry, identity: str) -> Any:
    sc, data = connect(world, namespace, event, case, identity)
    return emit_on(sc, namespace, event, data)


def check_event(world: MatrixWorld, namespace: str, event: str, case: rm.Entry, identity: str) -> None:
    sc, data = connect(world, namespace, event, case, identity)
    before = world.checksum()
    try:
        ack = sc.emit(event, data, namespace=namespace, callback=True)
        after = world.checksum()
    finally:
        if sc.is_connected(namespace):
            sc.disconnect(namespace=namespace)
    what = f"{namespace} {event} as {identity}: {ack!r:.300}"
    assert isinstance(ack, dict), what
    status = (ack.get("error") or {}).get("status") if not ack.get("ok") else 200
    assert status is None or status < 500, what
    if identity in case.allowed:
        assert status not in (401, 403), "allowed, but refused — " + what
        if status == 404:
            assert 404 in case.also_ok, "allowed, but not found — " + what
        return
    assert not ack.get("ok") and status in REFUSED | case.also_refused, "should be refused — " + what
    changed = sorted(t for t in before if before[t] != after.get(t))
    assert not changed, f"refused, yet tables {changed} changed — " + what


@pytest.mark.parametrize("namespace,event,label,case,identity", _event_cases())
def test_event_rights(world: MatrixWorld, namespace: str, event: str, label: str, case: rm.Entry,
                      identity: str) -> None:
    check_event(world, namespace, event, case, identity)


# ---------------------------------------------------------------------------
# references to another community's rows (or another room's) in what is sent

#: (what, method, path under /api/v1/communities/renfu/, body) — sent by renfu's admin,
#: who may do each of these with rows of renfu; each names a row of tuxin instead
FOREIGN_REFERENCES = [
    ("representatives", "PUT", lambda w: "representatives", lambda w, f: {"member_ids": [f["member"]]}),
    ("assign to their department", "POST", lambda w: f"issues/{w.fresh('issue_accepted', 'foreign 1')['issue_id']}"
     "/assign", lambda w, f: {"department_member_id": f["department"], "due_in_days": 7}),
    ("assign to their outside body", "POST", lambda w: f"issues/{w.fresh('issue_accepted', 'foreign 2')['issue_id']}"
     "/assign", lambda w, f: {"outside_body_id": f["outside_body"], "due_in_days": 7}),
    ("merge into their issue", "POST", lambda w: f"issues/{w.fresh('issue', 'foreign 3')['issue_id']}/merge",
     lambda w, f: {"into_id": f["issue"]}),
    ("schedule on their session", "POST", lambda w: f"issues/{w.fresh('issue', 'foreign 4')['issue_id']}/triage",
     lambda w, f: {"decision": "schedule", "session_id": f["session"]}),
    ("issue for their member", "POST", lambda w: "issues", lambda w, f: {
        "title": "代报", "category_key": "livelihood", "place_id": w.place_ids["unit"], "on_behalf_of_id": f["member"]}),
    ("issue at their place", "POST", lambda w: "issues", lambda w, f: {
        "title": "别处", "category_key": "livelihood", "place_id": f["place"]}),
    ("motion in their session", "POST", lambda w: "motions", lambda w, f: {
        "title": "跨社区", "method": "majority", "session_id": f["session"]}),
    ("motion for their voters", "POST", lambda w: "motions", lambda w, f: {
        "title": "跨社区", "method": "majority", "electorate": "list", "voter_ids": [f["member"]]}),
    ("motion for their place", "POST", lambda w: "motions", lambda w, f: {
        "title": "跨社区", "method": "majority", "electorate": "place", "place_id": f["place"]}),
    ("assisted vote for their member", "POST",
     lambda w: f"motions/{w.fresh('motion_open', 'foreign 5')['motion_id']}/ballots",
     lambda w, f: {"ballot": {"choice": "yes"}, "member_id": f["member"]}),
    ("session hosted by their member", "POST", lambda w: "sessions", lambda w, f: {
        "format_key": "courtyard_talk", "title": "跨社区", "starts_at": "2026-04-01T06:00:00+00:00",
        "host_id": f["host"]}),
    ("sign-in link for their member", "POST", lambda w: "sign-in-links", lambda w, f: {"member_id": f["member"]}),
    ("their member hosts our date", "POST",
     lambda w: f"rotation/slots/{w.fresh('slot', 'foreign 6')['slot_id']}/override",
     lambda w, f: {"host_id": f["host"]}),
]


@pytest.mark.parametrize("what,method,path,body", FOREIGN_REFERENCES, ids=[x[0] for x in FOREIGN_REFERENCES])
def test_a_row_of_another_community_named_in_a_body_is_not_found(world: MatrixWorld, what: str, method: str,
                                                                   path: Any, body: Any) -> None:
    foreign = world.foreign()
    url, data = path(world), body(world, foreign)
    before = world.checksum()
    response = world.api("admin", method, url, data)
    assert response.status_code == 404, (what, response.status_code, response.get_data(as_text=True)[:300])
    assert world.checksum() == before, what


@pytest.mark.parametrize("event,body", [
    ("hide", lambda w: {"message_id": w.elsewhere_message_id, "reason": "离题"}),
    ("grant_floor", lambda w: {"participant_id": w.elsewhere_participant_id}),
])
def test_the_host_cannot_reach_into_another_room(world: MatrixWorld, event: str, body: Any) -> None:
    """The host of one live session names a message or a participant of another session."""
    sc = world.socket("host", "/live")
    try:
        before = world.checksum()
        ack = sc.emit(event, {"cid": uuid.uuid4().hex, **body(world)}, namespace="/live", callback=True)
        assert not ack["ok"] and ack["error"]["status"] in REFUSED, ack
        assert world.checksum() == before
    finally:
        sc.disconnect(namespace="/live")


@pytest.mark.parametrize("identity", ["anonymous", "guest", "outsider"])
def test_join_codes_are_not_listed_to_strangers(world: MatrixWorld, identity: str) -> None:
    """A session's join code is for its community (and printed for the room), not for
    whoever lists the sessions: the field is absent or empty for strangers. (Which members
    see it is the fix's to say; this checks only those who must not.)"""
    client, _ = world.client(identity)
    listed = client.get(f"/api/v1/communities/{world.slug}/sessions").get_json()
    one = client.get(f"/api/v1/communities/{world.slug}/sessions/{world.session_id}").get_json()
    codes = {s.get("join_code") for s in listed + [one]} - {None, ""}
    assert not codes, f"{identity} was shown join codes {sorted(codes)}"


# ---------------------------------------------------------------------------
# CSRF and PostgreSQL


def test_a_post_without_the_sessions_token_is_refused(world: MatrixWorld) -> None:
    """Forgery from another site (no token of the session): refused before any rights."""
    client, _ = world.client("admin")
    before = world.checksum()
    response = client.post(f"/api/v1/communities/{world.slug}/categories",
                           json={"key": "forged", "names": {"zh_CN": "伪", "en": "Forged"}})
    assert response.status_code == 400
    response = client.post(f"/c/{world.slug}/admin/plugins", data={"plugin": "voting", "enabled": "0"})
    assert response.status_code == 400
    assert world.checksum() == before
    assert csrf_from(client.get("/sign-in"))


@pytest.fixture(scope="module")
def fresh_postgres_module(postgres_url: str) -> Iterator[str]:
    """An empty PostgreSQL schema for this module's world, dropped afterwards."""
    from sqlalchemy import create_engine, text

    schema = f"rights_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    engine = create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in postgres_url else "?"
    yield f"{postgres_url}{sep}options=-csearch_path%3D{schema}"
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture(scope="module")
def pg_world(tmp_path_factory: Any, request: Any) -> Iterator[MatrixWorld]:
    pg = request.getfixturevalue("fresh_postgres_module")
    app, clock = _app(tmp_path_factory.mktemp("matrix-pg"), DATABASE_URL=pg)
    w = MatrixWorld(app, clock)
    yield w
    w.close()
    app.extensions["courtyard"].engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("method,rule,label,case,identity",
                         _http_cases(("resident", "outsider"), writes_only_for=frozenset({"outsider"})))
def test_route_rights_on_postgresql(pg_world: MatrixWorld, method: str, rule: str, label: str, case: rm.Entry,
                                    identity: str) -> None:
    check_http(pg_world, method, rule, label, case, identity)


@pytest.mark.postgres
@pytest.mark.parametrize("namespace,event,label,case,identity", _event_cases(("resident", "outsider")))
def test_event_rights_on_postgresql(pg_world: MatrixWorld, namespace: str, event: str, label: str, case: rm.Entry,
                                    identity: str) -> None:
    check_event(pg_world, namespace, event, case, identity)


if os.environ.get("COURTYARD_RIGHTS_PROBE"):  # pragma: no cover - a developer's tool: print what the app does
    def test_probe(world: MatrixWorld) -> None:
        rows = []
        for method, rule, _ in app_rules(world.app):
            entry = rm.ROUTES.get((method, rule), rm.E(rm.NOBODY, {}))
            for label, case in cases_of(entry):
                seen = []
                for identity in IDENTITIES:
                    try:
                        r = call(world, method, rule, label, case, identity)
                        seen.append(f"{identity[:5]}={r.status_code}")
                    except Exception as exc:
                        seen.append(f"{identity[:5]}=E:{type(exc).__name__}:{exc}"[:80])
                rows.append(f"{method} {rule} [{label}] " + " ".join(seen))
        for (ns, ev) in app_events(world.app):
            entry = rm.EVENTS.get((ns, ev), rm.E(rm.NOBODY, {}))
            for label, case in cases_of(entry):
                seen = []
                for identity in IDENTITIES:
                    try:
                        ack = emit(world, ns, ev, case, identity)
                        st = 200 if ack.get("ok") else (ack.get("error") or {}).get("status")
                        seen.append(f"{identity[:5]}={st}")
                    except Exception as exc:
                        seen.append(f"{identity[:5]}=E:{type(exc).__name__}:{exc}"[:80])
                rows.append(f"{ns} {ev} [{label}] " + " ".join(seen))
        with open("/tmp/rights-probe.txt", "w") as f:
            f.write("\n".join(rows))

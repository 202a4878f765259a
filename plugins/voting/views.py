"""Pages and JSON API of voting.

Pages under ``/c/<slug>/motions…``: the list, the motion form (hosts and staff, from a
session), the phone vote page (big buttons; tap options in order to rank them; 1–5
buttons to rate), the results (an SVG bar chart drawn here and the same figures as a
table, the rounds of instant runoff, turnout against the quorum), CSV, and — after close —
the published receipts and anonymised ballots with a "find my receipt" box.
API under ``/api/v1/communities/<slug>/motions…``.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import get_locale, gettext
from marshmallow import ValidationError
from sqlalchemy import select

from core.db import utcnow
from core.i18n import N_
from core.models import ConsultationSession, Member, Place
from core.models.vote import Motion
from core.services import categories as categories_service
from core.services import plugins as plugins_service
from core.services import votes as svc
from core.services.access import community_by_slug, get_in_community, is_staff, require_member
from plugins.voting import schemas as s
from plugins.voting.charts import bar_chart, figures
from plugins.voting.live import broadcaster, cast_and_ack, method_for, motion_state
from web.api import doc
from web.auth import current_member
from web.db import commit, get_db
from web.extensions import current_courtyard
from web.i18n import Msg, translate
from web.plugin_api import load_args

bp = Blueprint("plugin_voting", __name__, template_folder="templates", static_folder="static",
               static_url_path="/plugin-voting-static")

API = "/api/v1/communities/<slug>"

PHASES = {
    "draft": N_("Draft"),
    "scheduled": N_("Opens soon"),
    "open": N_("Voting is open"),
    "ended": N_("Voting has ended"),
    "closed": N_("Closed"),
}
ELECTORATE_LABELS = {
    "community": N_("All members of the community"),
    "place": N_("Residents of a place"),
    "representatives": N_("The resident representatives"),
    "list": N_("A list of members"),
}
TIE_RULES = {
    "lottery": N_("the public lottery"),
    "earlier_rounds": N_("the earlier rounds"),
    "elimination_order": N_("the order of elimination"),
}
YESNO_LABELS = {"yes": N_("Yes"), "no": N_("No"), "abstain": N_("Abstain")}


@bp.url_value_preprocessor
def _community(endpoint: str | None, values: dict[str, Any] | None) -> None:
    if values and "slug" in values:
        g.community = community_by_slug(get_db(), values["slug"])


def now():
    return (current_app.config.get("VOTING_CLOCK") or utcnow)()


def locale() -> str:
    return str(get_locale())


def signed_in() -> Member:
    me = current_member()
    if me is None:
        abort(401)
    require_member(me, g.community.id)
    return me


def methods():
    cy = current_courtyard()
    enabled = plugins_service.enabled_checker(get_db(), g.community.id, cy.pm)
    return cy.catalog.tally_methods, enabled


def option_label(motion: Motion, option: str) -> str:
    if motion.options == svc.YESNO_OPTIONS and option in YESNO_LABELS:
        return gettext(YESNO_LABELS[option])
    return option


def load_motion(motion_id: int, *, refresh: bool = True) -> Motion:
    """The motion in this community; a draft only for those who may manage it. A motion
    whose window has ended is closed now (the system closes it)."""
    db = get_db()
    motion = svc.get_motion(db, motion_id, community_id=g.community.id)
    if motion.status == "draft" and not svc.can_manage(db, current_member(), motion, g.community.id):
        abort(404)
    if refresh and svc.phase(motion, now()) == "ended":
        changes = svc.close_due(db, now=now(), method_for=lambda key: method_for(db, motion),
                                community_id=g.community.id)
        commit()
        announce(changes)
        db.refresh(motion)
    return motion


def announce(changes: list[svc.MotionChange]) -> None:
    b = broadcaster()
    for change in changes:
        if b is not None and change is not None:
            b.motion_changed(change)


def dump_motion(motion: Motion) -> dict[str, Any]:
    db = get_db()
    catalog, enabled = methods()
    method = catalog.get(motion.method_key, enabled)
    return {
        "id": motion.id, "community": g.community.slug, "session_id": motion.session_id,
        "agenda_item_id": motion.agenda_item_id, "title": motion.title, "description": motion.description,
        "options": motion.options, "method": motion.method_key, "ballot_kind": method.ballot_kind if method else None,
        "params": motion.params, "quorum": motion.quorum, "electorate": motion.electorate,
        "place_id": motion.place_id, "secret": motion.secret,
        # as it is applied: a secret ballot stored with live results (before they were refused) is hidden
        "results_visibility": "live" if svc.results_live(motion) else "after_close",
        "opens_at": motion.opens_at.isoformat() if motion.opens_at else None,
        "closes_at": motion.closes_at.isoformat() if motion.closes_at else None,
        "status": motion.status, "phase": svc.phase(motion, now()), "category_key": motion.category_key,
        "eligible": svc.eligible_count(db, motion), "voted": svc.participants_count(db, motion),
        "url": url_for("plugin_voting.motion_page", slug=g.community.slug, motion_id=motion.id, _external=True),
    }


def result_of(motion: Motion) -> dict[str, Any] | None:
    """The stored result after close; the running tally of a live-results motion; else None
    — for everyone, staff included (:func:`core.services.votes.results_visible`)."""
    db = get_db()
    return svc.visible_result(db, motion, method_for(db, motion) if svc.results_visible(motion) else None)


def create_from(data: dict[str, Any], actor: Member) -> Motion:
    catalog, enabled = methods()
    method = catalog.get(data.pop("method"), enabled)
    threshold = data.pop("threshold", None)
    params = dict(data.pop("params") or {})
    if threshold and method is not None and "threshold" in (method.params or {}):
        params["threshold"] = threshold
    motion = svc.create_motion(get_db(), actor=actor, community=g.community, method=method, params=params,
                               now=now(), **data)
    return motion


# ---------------------------------------------------------------------------
# JSON API


@bp.get(f"{API}/motions")
@doc("Motions of the community, newest first (drafts only for hosts and staff)", query=s.MotionListArgs)
def api_motions(slug: str):
    db = get_db()
    me = current_member()
    drafts = svc.can_manage(db, me, None, g.community.id)
    args = load_args(s.MotionListArgs())
    return jsonify([dump_motion(m) for m in svc.list_motions(db, community_id=g.community.id,
                                                              session_id=args["session_id"], include_drafts=drafts,
                                                              limit=args["limit"])])


@bp.post(f"{API}/motions")
@doc("Put a motion on the table (the session's host or staff)", body=s.MotionInSchema, status=201)
def api_create(slug: str):
    from web.schemas import load_json

    actor = signed_in()
    motion = create_from(load_json(s.MotionInSchema()), actor)
    response = jsonify(dump_motion(motion))
    commit()  # after the answer is made: a failure making it leaves nothing written
    if motion.status == "open":
        announce([svc.MotionChange(motion)])
    return response, 201


@bp.get(f"{API}/motions/<int:motion_id>")
@doc("One motion, with my vote and — when it may be seen — the result")
def api_motion(slug: str, motion_id: int):
    motion = load_motion(motion_id)
    me = current_member()
    data = dump_motion(motion)
    data["mine"] = svc.my_vote(get_db(), motion=motion, member=me) if me else None
    data["result"] = result_of(motion)
    return jsonify(data)


def _transition(motion_id: int, action: str):
    actor = signed_in()
    db = get_db()
    motion = load_motion(motion_id)
    if action == "open":
        change = svc.open_motion(db, actor=actor, motion=motion, now=now())
    else:
        change = svc.close_motion(db, actor=actor, motion=motion, method=method_for(db, motion), now=now())
    commit()
    announce([change])
    return motion


@bp.post(f"{API}/motions/<int:motion_id>/open")
@doc("Open the vote (the session's host or staff)")
def api_open(slug: str, motion_id: int):
    return jsonify(dump_motion(_transition(motion_id, "open")))


@bp.post(f"{API}/motions/<int:motion_id>/close")
@doc("Close the vote and store the result (the session's host or staff)")
def api_close(slug: str, motion_id: int):
    motion = _transition(motion_id, "close")
    data = dump_motion(motion)
    data["result"] = result_of(motion)
    return jsonify(data)


@bp.post(f"{API}/motions/<int:motion_id>/ballots")
@doc("Vote, or change my vote until the motion closes. `ballot` is checked by the tally method's schema; "
     "`member_id` records an assisted vote for a present resident (hosts and staff); `cid` makes a retry "
     "harmless; `voter_key` is the change code of a secret ballot", body=s.VoteInSchema)
def api_vote(slug: str, motion_id: int):
    from web.schemas import load_json

    actor = signed_in()
    payload = load_json(s.VoteInSchema())
    motion = load_motion(motion_id)
    ack = cast_and_ack(get_db(), motion=motion, actor=actor, payload=payload, now=now())
    ack.pop("ok", None)
    if ack.get("voter_key"):  # a secret ballot's change code
        from web.plugin_api import holds_secret

        holds_secret()
    return jsonify(ack), 201 if ack["first"] else 200


def check_in(motion_id: int, member_id: int) -> tuple[Member, bool]:
    """Check a resident in at the motion's session (the host or staff), so that their vote
    may be recorded for them; ``True`` when they were not checked in before."""
    from core.errors import Conflict
    from core.services import live as live_service

    actor = signed_in()
    db = get_db()
    motion = load_motion(motion_id)
    if motion.session_id is None:
        raise Conflict(svc.MSG_ASSIST_NO_SESSION, field="member_id")
    session = get_in_community(db, ConsultationSession, motion.session_id, g.community.id, field="session_id")
    member = get_in_community(db, Member, member_id, g.community.id, field="member_id")
    _participant, event = live_service.check_in(db, actor=actor, session=session, member=member, now=now())
    commit()
    b = broadcaster()
    if b is not None and event is not None:  # the live room sees who was checked in, and by whom
        b.socketio.emit("event", live_service.event_dict(event), to=f"session:{session.id}", namespace="/live")
    return member, event is not None


@bp.post(f"{API}/motions/<int:motion_id>/check-in")
@doc("Check a resident in at the motion's session (the session's host or staff): a vote is recorded for a "
     "resident only once they are checked in", body=s.CheckInSchema, status=201)
def api_check_in(slug: str, motion_id: int):
    from web.schemas import load_json

    signed_in()
    data = load_json(s.CheckInSchema())
    member, new = check_in(motion_id, data["member_id"])
    return jsonify({"motion_id": motion_id, "member_id": member.id, "checked_in": True}), 201 if new else 200


@bp.get(f"{API}/motions/<int:motion_id>/my-ballot")
@doc("My vote on a motion (for a secret ballot only that I took part; find the choice by receipt)")
def api_my_ballot(slug: str, motion_id: int):
    me = signed_in()
    motion = load_motion(motion_id)
    return jsonify({"motion_id": motion.id, "mine": svc.my_vote(get_db(), motion=motion, member=me)})


@bp.get(f"{API}/motions/<int:motion_id>/results")
@doc("The result: after close, or while open when its results are shown live")
def api_results(slug: str, motion_id: int):
    motion = load_motion(motion_id)
    result = result_of(motion)
    if result is None:
        from core.errors import Conflict

        raise Conflict(N_("The results are shown when the vote closes."), field="motion")
    return jsonify({"motion_id": motion.id, "status": motion.status, "result": result})


@bp.get(f"{API}/motions/<int:motion_id>/receipts")
@doc("After close: every counted ballot with its receipt and nonce, in random order, and the log head")
def api_receipts(slug: str, motion_id: int):
    motion = load_motion(motion_id)
    return jsonify(svc.published(get_db(), motion))


# a secret ballot's receipt is looked up among the ballots written out only (never by
# opening the sealed ones: an anonymous request must cost one indexed read); the voter's
# own phone knows its vote is in from my-ballot
NOT_PUBLISHED_YET = N_("This receipt is not published yet: secret ballots are written out in batches, "
                       "all of them by the close. Check it again after the vote closes.")


@bp.get(f"{API}/motions/<int:motion_id>/receipts/<receipt>")
@doc("Is this receipt counted, and as what?")
def api_receipt(slug: str, motion_id: int, receipt: str):
    data = s.ReceiptLookupSchema().load({"receipt": receipt})
    motion = load_motion(motion_id)
    found = svc.find_receipt(get_db(), motion=motion, receipt=data["receipt"])
    if found is None:
        from core.errors import NotFound

        if svc.receipt_may_be_sealed(motion):
            raise NotFound(NOT_PUBLISHED_YET, field="receipt")
        raise NotFound(N_("This receipt is not among the counted ballots."), field="receipt")
    return jsonify({"motion_id": motion.id, "counted": True, **found})


@bp.put(f"{API}/representatives")
@doc("Replace the list of elected resident representatives (staff)", body=s.RepresentativesSchema)
def api_representatives(slug: str):
    from web.schemas import load_json

    actor = signed_in()
    data = load_json(s.RepresentativesSchema())
    rows = svc.set_representatives(get_db(), actor=actor, community=g.community, member_ids=data["member_ids"])
    commit()
    return jsonify({"member_ids": [r.member_id for r in rows]})


@bp.get(f"{API}/motions/<int:motion_id>/verify")
@doc("Check the ballot log's hash chain and recount (staff)")
def api_verify(slug: str, motion_id: int):
    actor = signed_in()
    db = get_db()
    if not is_staff(db, actor, g.community.id):
        abort(403)
    motion = load_motion(motion_id)
    return jsonify(svc.verify_motion(db, motion.id, method=method_for(db, motion)))


# ---------------------------------------------------------------------------
# Pages


@bp.get("/c/<slug>/motions")
def index(slug: str):
    db = get_db()
    me = current_member()
    manager = svc.can_manage(db, me, None, g.community.id)
    args = load_args(s.MotionListArgs())  # from a session's page: its votes only
    motions = svc.list_motions(db, community_id=g.community.id, session_id=args["session_id"],
                               include_drafts=manager, limit=args["limit"])
    return render_template("voting/index.html", community=g.community, motions=motions, manager=manager,
                           phase=lambda m: svc.phase(m, now()), phases=PHASES)


@bp.get("/c/<slug>/motions/new")
def new(slug: str):
    me = current_member()
    if me is None:
        return redirect(url_for("auth.sign_in", next=request.full_path))
    db = get_db()
    session = None
    session_id = load_args(s.MotionListArgs())["session_id"]
    if session_id:
        session = get_in_community(db, ConsultationSession, session_id, g.community.id, field="session_id")
    if not svc.can_manage(db, me, session, g.community.id):
        abort(403)
    catalog, enabled = methods()
    places = list(db.scalars(select(Place).where(Place.community_id == g.community.id).order_by(Place.path)))
    members = list(db.scalars(select(Member).where(Member.community_id == g.community.id, Member.active.is_(True))
                              .order_by(Member.id)))
    categories = categories_service.list_categories(db, current_courtyard().catalog, g.community)
    return render_template("voting/new.html", community=g.community, session=session, methods=catalog.all(enabled),
                           places=places, members=members, categories=categories, electorates=ELECTORATE_LABELS)


def _form_payload() -> dict[str, Any]:
    f = request.form
    raw: dict[str, Any] = {"title": f.get("title", ""), "description": f.get("description", ""),
                           "method": f.get("method", ""), "electorate": f.get("electorate", "community"),
                           "secret": f.get("secret") == "1", "results_visibility": f.get("results_visibility",
                                                                                         "after_close"),
                           "open_now": f.get("open_now") == "1"}
    options = [line.strip() for line in f.get("options", "").splitlines() if line.strip()]
    raw["options"] = options
    for key in ("quorum", "place_id", "session_id", "agenda_item_id"):
        if f.get(key, "").strip():
            try:
                raw[key] = int(f[key])
            except ValueError:
                raw[key] = f[key]
    if f.get("threshold"):
        raw["threshold"] = f["threshold"]
    if f.get("category_key"):
        raw["category_key"] = f["category_key"]
    voters = f.getlist("voter_ids")
    if voters:
        raw["voter_ids"] = [int(v) for v in voters if v.isdigit()]
    if f.get("closes_in_minutes", "").strip():
        try:
            minutes = int(f["closes_in_minutes"])
        except ValueError:
            raise ValidationError({"closes_in_minutes": [Msg(N_("Not a valid integer."))]})
        if not 1 <= minutes <= 366 * 24 * 60:  # a larger number overflows the date
            raise ValidationError({"closes_in_minutes": [Msg(N_("Must be greater than or equal to {min} and less than "
                                                                "or equal to {max}."), min=1, max=366 * 24 * 60)]})
        from datetime import timedelta

        raw["closes_at"] = (now() + timedelta(minutes=minutes)).isoformat()
    return raw


@bp.post("/c/<slug>/motions")
def create(slug: str):
    actor = signed_in()
    data = s.MotionInSchema().load(_form_payload())
    motion = create_from(data, actor)
    commit()
    if motion.status == "open":
        announce([svc.MotionChange(motion)])
    flash(gettext("The motion was saved."), "ok")
    return redirect(url_for("plugin_voting.motion_page", slug=slug, motion_id=motion.id))


@bp.get("/c/<slug>/motions/<int:motion_id>")
def motion_page(slug: str, motion_id: int):
    """The phone page: vote (and change the vote until close), or see the result."""
    db = get_db()
    motion = load_motion(motion_id)
    me = current_member()
    method = method_for(db, motion)
    manager = svc.can_manage(db, me, motion, g.community.id)
    state = motion_state(db, motion, me, now()) if me is not None else None
    voters, present = [], set()
    if manager and motion.status == "open":
        voters = list(db.scalars(svc.eligible_ids(motion, db).with_only_columns(Member)
                                 .order_by(Member.display_name)))
        if motion.session_id is not None:  # only residents checked in at the session get a vote recorded
            from core.models.live import Participant

            present = set(db.scalars(select(Participant.member_id).where(Participant.session_id == motion.session_id,
                                                                         Participant.member_id.is_not(None))))
    return render_template("voting/motion.html", community=g.community, motion=motion, method=method, me=me,
                           state=state, manager=manager, phase=svc.phase(motion, now()), phases=PHASES,
                           label=lambda o: option_label(motion, o), voters=voters, present=present,
                           live_results=svc.results_live(motion),
                           choice_text=lambda c: choice_text(motion, c),
                           electorate=ELECTORATE_LABELS.get(motion.electorate, motion.electorate),
                           session=db.get(ConsultationSession, motion.session_id) if motion.session_id else None)


@bp.post("/c/<slug>/motions/<int:motion_id>/check-in")
def check_in_form(slug: str, motion_id: int):
    """The host checks a resident without a phone in, from the motion page."""
    raw: Any = request.form.get("member_id", "")
    data = s.CheckInSchema().load({"member_id": int(raw) if raw.isascii() and raw.isdigit() else raw})
    member, _new = check_in(motion_id, data["member_id"])
    flash(gettext("%(name)s is checked in.", name=member.display_name), "ok")
    return redirect(url_for("plugin_voting.motion_page", slug=slug, motion_id=motion_id))


@bp.post("/c/<slug>/motions/<int:motion_id>/open")
def open_page(slug: str, motion_id: int):
    _transition(motion_id, "open")
    flash(gettext("The vote is open."), "ok")
    return redirect(url_for("plugin_voting.motion_page", slug=slug, motion_id=motion_id))


@bp.post("/c/<slug>/motions/<int:motion_id>/close")
def close_page(slug: str, motion_id: int):
    _transition(motion_id, "close")
    flash(gettext("The vote is closed and counted."), "ok")
    return redirect(url_for("plugin_voting.results", slug=slug, motion_id=motion_id))


def _form_ballot(kind: str | None, motion: Motion) -> dict[str, Any]:
    f = request.form
    if kind in ("yesno", "choice"):
        return {"choice": f.get("choice", "")}
    if kind == "approval":
        return {"approvals": f.getlist("approvals")}
    if kind == "ranking":
        return {"ranking": [x for x in f.get("ranking", "").split("\n") if x.strip()] or f.getlist("ranking")}
    if kind == "scores":
        scores: dict[str, Any] = {}
        for i, option in enumerate(motion.options):
            value = f.get(f"score_{i}", "").strip()
            if value:
                scores[option] = int(value) if value.lstrip("-").isdigit() else value
        return {"scores": scores}
    return {}


@bp.post("/c/<slug>/motions/<int:motion_id>/vote")
def vote_form(slug: str, motion_id: int):
    """Plain form voting (no JavaScript), and the host's assisted vote for a resident."""
    actor = signed_in()
    db = get_db()
    motion = load_motion(motion_id)
    method = method_for(db, motion)
    payload: dict[str, Any] = {"ballot": _form_ballot(method.ballot_kind if method else None, motion),
                               "cid": request.form.get("cid") or None}
    if request.form.get("member_id"):
        try:
            payload["member_id"] = int(request.form["member_id"])
        except ValueError:
            raise ValidationError({"member_id": [Msg(N_("Not a valid integer."))]}) from None
    if request.form.get("voter_key"):
        payload["voter_key"] = request.form["voter_key"]
    payload = s.VoteInSchema().load(payload)
    ack = cast_and_ack(db, motion=motion, actor=actor, payload=payload, now=now())
    if payload.get("member_id"):
        flash(gettext("The assisted vote was recorded. Receipt: %(receipt)s", receipt=ack["receipt"]), "ok")
    else:
        flash(gettext("Your vote was counted. Your receipt: %(receipt)s", receipt=ack["receipt"]), "ok")
    return redirect(url_for("plugin_voting.motion_page", slug=slug, motion_id=motion_id))


@bp.get("/c/<slug>/motions/<int:motion_id>/results")
def results(slug: str, motion_id: int):
    motion = load_motion(motion_id)
    result = result_of(motion)
    title = gettext("Result: %(title)s", title=motion.title)
    fig = figures(motion, result, label=lambda o: option_label(motion, o)) if result else None
    chart = bar_chart(title + " — " + translate(fig["measure"]), fig["rows"]) if fig else None
    return render_template("voting/results.html", community=g.community, motion=motion, result=result, fig=fig,
                           chart=chart, phase=svc.phase(motion, now()), phases=PHASES,
                           label=lambda o: option_label(motion, o),
                           labels=lambda os: ", ".join(option_label(motion, o) for o in os),
                           rule=lambda r: translate(TIE_RULES.get(r, r)) if r else "")


@bp.get("/c/<slug>/motions/<int:motion_id>/results.csv")
def results_csv(slug: str, motion_id: int):
    motion = load_motion(motion_id)
    result = result_of(motion)
    if result is None:
        abort(404)
    fig = figures(motion, result, label=lambda o: o)
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["motion", "option", fig["measure"], "winner"])
    for option, value, text in fig["rows"]:
        w.writerow([_cell(motion.title), _cell(option), text, "yes" if option in (result.get("winners") or []) else ""])
    for rnd in result.get("rounds") or []:
        for option, count in rnd["counts"].items():
            w.writerow([_cell(motion.title), _cell(option), f"round {rnd['round']}", count])
    t = result["turnout"]
    w.writerow([_cell(motion.title), "turnout", t["ballots"], f"eligible {t['eligible']}; quorum {t['quorum']}; "
                                                             f"met {'yes' if t['quorum_met'] else 'no'}"])
    body = "\ufeff" + out.getvalue()
    return Response(body, mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f"attachment; filename=motion-{motion.id}-results.csv"})


def _cell(value: Any) -> str:
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


@bp.get("/c/<slug>/motions/<int:motion_id>/receipts")
def receipts(slug: str, motion_id: int):
    """After close: the published receipts and anonymised ballots, and "find my receipt"."""
    motion = load_motion(motion_id)
    db = get_db()
    found = None
    asked = (request.args.get("receipt") or "").strip().lower()
    if asked:
        try:
            s.ReceiptLookupSchema().load({"receipt": asked})
            found = svc.find_receipt(db, motion=motion, receipt=asked) or False
        except ValidationError:
            found = False
    data = svc.published(db, motion) if motion.status == "closed" else None
    return render_template("voting/receipts.html", community=g.community, motion=motion, data=data, asked=asked,
                           found=found, not_yet=found is False and svc.receipt_may_be_sealed(motion), label=lambda o: option_label(motion, o), choice_text=choice_text)


def choice_text(motion: Motion, choice: Any) -> str:
    label = lambda o: option_label(motion, o)  # noqa: E731
    if isinstance(choice, str):
        return label(choice)
    if isinstance(choice, list):
        return " > ".join(label(c) for c in choice)
    if isinstance(choice, dict):
        return ", ".join(f"{label(k)}: {v}" for k, v in choice.items())
    return str(choice)

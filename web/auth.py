"""Signing in: passwords for hosts and staff, one-time links and QR codes for residents,
bearer tokens for API scripts."""

from __future__ import annotations

import logging
import math
import threading
import time
from datetime import datetime
from typing import Any

import segno
from flask import Blueprint, abort, current_app, flash, g, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from core.db import utcnow
from core.errors import DomainError
from core.i18n import N_
from core.models import Member
from core.services import auth as auth_service
from core.ratelimit import AttemptLimiter, RedisAttemptLimiter, redis_client
from core.services.communities import get_member
from web.db import commit, get_db
from web.extensions import csrf, login_manager
from web.i18n import translate
from web.redirects import safe_next
from web.security import holds_secret

bp = Blueprint("auth", __name__)
_log = logging.getLogger("courtyard.auth")

login_manager.login_view = "auth.sign_in"
login_manager.login_message = N_("Please sign in first.")


@login_manager.user_loader
def _load_member(user_id: str) -> Member | None:
    """``<member id>.<sign-in epoch>`` (see ``get_id``): a cookie made before the member's
    sign-ins were ended (:func:`core.services.auth.end_sign_ins`) no longer signs in. A
    cookie of the older form ``<member id>`` counts as epoch 0."""
    member_id, _, epoch = str(user_id).partition(".")
    try:
        member = get_db().get(Member, int(member_id))
        epoch_number = int(epoch) if epoch else 0
    except (ValueError, OverflowError):
        return None
    if member is None or not member.active or member.sign_in_epoch != epoch_number:
        return None
    return member


# Flask-Login expects these on the user object
Member.is_authenticated = property(lambda self: True)  # type: ignore[attr-defined]
Member.is_active = property(lambda self: bool(self.active))  # type: ignore[attr-defined]
Member.is_anonymous = property(lambda self: False)  # type: ignore[attr-defined]
Member.get_id = lambda self: f"{self.id}.{self.sign_in_epoch or 0}"  # type: ignore[attr-defined]


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return None


def current_member() -> Member | None:
    """The member acting in this request: by bearer token, else by the sign-in cookie."""
    if "member" not in g:
        token = bearer_token()
        if token:
            g.member = auth_service.member_for_api_token(get_db(), token)
        elif getattr(current_user, "is_authenticated", False):
            g.member = current_user._get_current_object()  # type: ignore[attr-defined]
        else:
            g.member = None
    return g.member


def init_csrf(app: Any) -> None:
    @app.before_request
    def _csrf() -> None:
        if request.method in ("POST", "PUT", "PATCH", "DELETE") and not bearer_token():
            csrf.protect()


def now() -> datetime:
    """The app's clock (tests inject ``COURTYARD_CLOCK``)."""
    clock = current_app.config.get("COURTYARD_CLOCK")
    return clock() if clock else utcnow()


class SignInForm(FlaskForm):
    username = StringField(N_("User name"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(N_("Password"), validators=[DataRequired(), Length(max=256)])


#: failed password sign-ins allowed (count, window in seconds) per account from one
#: address, per account from anywhere, and per address over all accounts
#: (docs/operations.md, "Password guessing"). An account is never blocked for longer than
#: its window after the last counted failure; a refused try is not counted. The account-wide
#: count stands above what one address may reach in its window (5 a minute: 25 in 5 minutes),
#: else one guesser going as fast as allowed would keep the owner out for good.
SIGN_IN_LIMITS = {"account_address": (5, 60.0), "account": (30, 300.0), "address": (50, 300.0)}

_LIMITS_LOCK = threading.Lock()


class SignInLimits:
    """Failed password sign-ins counted per (account, address), per account and per
    address; shared by every process through Redis when ``COURTYARD_MESSAGE_QUEUE`` is a
    Redis URL (the join-code limiter's machinery, :mod:`core.ratelimit`)."""

    def __init__(self, limiters: dict[str, Any]):
        self.limiters = limiters

    @staticmethod
    def _keys(username: str, address: str) -> dict[str, str]:
        account = username.strip().casefold()
        return {"account_address": f"{account}|{address}", "account": account, "address": address}

    def wait(self, username: str, address: str) -> float:
        """Seconds before this account may be tried again from this address (0: now)."""
        keys = self._keys(username, address)
        return max(self.limiters[kind].blocked_for(key) for kind, key in keys.items())

    def failed(self, username: str, address: str) -> None:
        for kind, key in self._keys(username, address).items():
            self.limiters[kind].failed(key)

    def succeeded(self, username: str, address: str) -> None:
        """A right password: the owner's own slips from this address are forgotten."""
        self.limiters["account_address"].forget(self._keys(username, address)["account_address"])


def sign_in_limits(app: Any) -> SignInLimits:
    limits = app.extensions.get("courtyard_sign_in_limits")
    if limits is None:
        with _LIMITS_LOCK:
            limits = app.extensions.get("courtyard_sign_in_limits")
            if limits is None:
                limits = app.extensions["courtyard_sign_in_limits"] = _make_sign_in_limits(app)
    return limits


def _make_sign_in_limits(app: Any) -> SignInLimits:
    settings = {**SIGN_IN_LIMITS, **(app.config.get("SIGN_IN_LIMITS") or {})}
    clock = app.config.get("COURTYARD_CLOCK")
    seconds = (lambda: clock().timestamp()) if clock else None
    url = app.config.get("MESSAGE_QUEUE")
    limiters: dict[str, Any] = {}
    if url and str(url).startswith(("redis://", "rediss://", "unix://")):
        client = redis_client(str(url))
        for kind, (limit, window) in settings.items():
            limiters[kind] = RedisAttemptLimiter(client, limit=int(limit), window=float(window),
                                                 clock=seconds or time.time, name=f"sign-in:{kind}",
                                                 label="sign-in", logger=_log,
                                                 prefix=app.config.get("SIGN_IN_REDIS_PREFIX", "courtyard:"))
    else:
        for kind, (limit, window) in settings.items():
            limiters[kind] = AttemptLimiter(limit=int(limit), window=float(window), clock=seconds or time.monotonic)
    return SignInLimits(limiters)


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    form = SignInForm()
    if form.validate_on_submit():
        limits, address = sign_in_limits(current_app), request.remote_addr or "?"
        username = form.username.data
        wait = limits.wait(username, address)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            flash(translate(N_("Too many wrong passwords. Please wait %(seconds)s seconds and try again."),
                            {"seconds": seconds}), "error")
            response = make_response(render_template("sign_in.html", form=form), 429)
            response.headers["Retry-After"] = str(seconds)
            return response
        member = auth_service.authenticate(get_db(), username=username, password=form.password.data)
        if member is not None:
            limits.succeeded(username, address)
            login_user(member, remember=True)
            return redirect(safe_next(request.args.get("next")))
        limits.failed(username, address)
        flash(translate(N_("The user name or password is wrong.")), "error")
        return render_template("sign_in.html", form=form), 401
    return render_template("sign_in.html", form=form)


@bp.route("/s/<token>", methods=["GET", "POST"])
def sign_in_link(token: str):
    """A resident opens the link (or scans the QR code): a page with one big button, so
    that link previewers and scanners do not use the one-time token up."""
    if request.method == "POST":
        try:
            member = auth_service.redeem_sign_in_token(get_db(), token=token, now=now())
        except DomainError as exc:
            return render_template("error.html", status=403, message=translate(exc.message), fields={}), 403
        commit()
        login_user(member, remember=True)
        return redirect(url_for("views.community", slug=member_community_slug(member)))
    holds_secret()
    return render_template("sign_in_link.html", token=token)


def member_community_slug(member: Member) -> str:
    from core.models import Community

    return get_db().get(Community, member.community_id).slug


@bp.route("/sign-out", methods=["POST"])
def sign_out():
    """Sign out here; with ``everywhere=1``, on every device (a lost phone, a copied
    cookie, a sign-in link someone else used)."""
    member = current_member()
    if request.form.get("everywhere") == "1" and member is not None and not bearer_token():
        auth_service.end_sign_ins(get_db(), actor=member, member=member)
        commit()
    logout_user()
    return redirect(url_for("views.home"))


@bp.route("/c/<slug>/admin/members/<int:member_id>/sign-out", methods=["POST"])
def end_member_sign_ins(slug: str, member_id: int):
    """An admin ends a member's sign-ins on every device (after a link was misused)."""
    from core.services.access import community_by_slug

    db = get_db()
    community = community_by_slug(db, slug)
    g.community = community
    actor = current_member()
    if actor is None:
        abort(401)
    member = get_member(db, member_id, community.id)
    auth_service.end_sign_ins(db, actor=actor, member=member)
    commit()
    flash(translate(N_("%(name)s is signed out on every device."), {"name": member.display_name}), "ok")
    return redirect(url_for("views.admin_sign_in_links", slug=slug))


def qr_svg(data: str, scale: int = 6) -> Markup:
    """A QR code as inline SVG (segno: pure Python, no image libraries needed)."""
    return Markup(segno.make(data, error="m").svg_inline(scale=scale, dark="#111", light="#fff"))


@bp.route("/c/<slug>/members/<int:member_id>/sign-in-link", methods=["POST"])
def print_sign_in_link(slug: str, member_id: int):
    """A grid head makes a one-time sign-in link for a resident and prints or shows it."""
    from core.services.access import community_by_slug

    db = get_db()
    community = community_by_slug(db, slug)
    g.community = community
    actor = current_member()
    if actor is None:  # before the lookup: a stranger learns nothing of which members exist
        abort(401)
    resident = get_member(db, member_id, community.id)
    token = auth_service.issue_sign_in_token(db, actor=actor, member=resident)
    commit()
    holds_secret()
    url = url_for("auth.sign_in_link", token=token, _external=True)
    return render_template("sign_in_card.html", resident=resident, url=url, qr=qr_svg(url), community=community)

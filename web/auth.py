"""Signing in: passwords for hosts and staff, one-time links and QR codes for residents,
bearer tokens for API scripts."""

from __future__ import annotations

from typing import Any
import segno
from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from core.errors import DomainError, Forbidden
from core.i18n import N_
from core.models import Member
from core.services import auth as auth_service
from core.services.access import can_look_after
from core.services.communities import get_member
from web.db import commit, get_db
from web.extensions import csrf, login_manager
from web.i18n import translate
from web.redirects import safe_next

bp = Blueprint("auth", __name__)

login_manager.login_view = "auth.sign_in"
login_manager.login_message = N_("Please sign in first.")


@login_manager.user_loader
def _load_member(member_id: str) -> Member | None:
    try:
        member = get_db().get(Member, int(member_id))
    except ValueError:
        return None
    return member if member is not None and member.active else None


# Flask-Login expects these on the user object
Member.is_authenticated = property(lambda self: True)  # type: ignore[attr-defined]
Member.is_active = property(lambda self: bool(self.active))  # type: ignore[attr-defined]
Member.is_anonymous = property(lambda self: False)  # type: ignore[attr-defined]
Member.get_id = lambda self: str(self.id)  # type: ignore[attr-defined]


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


class SignInForm(FlaskForm):
    username = StringField(N_("User name"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(N_("Password"), validators=[DataRequired(), Length(max=256)])


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    form = SignInForm()
    if form.validate_on_submit():
        member = auth_service.authenticate(get_db(), username=form.username.data, password=form.password.data)
        if member is not None:
            login_user(member, remember=True)
            return redirect(safe_next(request.args.get("next")))
        flash(translate(N_("The user name or password is wrong.")), "error")
        return render_template("sign_in.html", form=form), 401
    return render_template("sign_in.html", form=form)


@bp.route("/s/<token>", methods=["GET", "POST"])
def sign_in_link(token: str):
    """A resident opens the link (or scans the QR code): a page with one big button, so
    that link previewers and scanners do not use the one-time token up."""
    if request.method == "POST":
        try:
            member = auth_service.redeem_sign_in_token(get_db(), token=token)
        except DomainError as exc:
            return render_template("error.html", status=403, message=translate(exc.message), fields={}), 403
        commit()
        login_user(member, remember=True)
        return redirect(url_for("views.community", slug=member_community_slug(member)))
    return render_template("sign_in_link.html", token=token)


def member_community_slug(member: Member) -> str:
    from core.models import Community

    return get_db().get(Community, member.community_id).slug


@bp.route("/sign-out", methods=["POST"])
def sign_out():
    logout_user()
    return redirect(url_for("views.home"))


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
    resident = get_member(db, member_id, community.id)
    if actor is None:
        abort(401)
    if not can_look_after(db, actor, resident):
        raise Forbidden(N_("Only staff or the head of this resident's grid, building or unit can do this."))
    token = auth_service.issue_sign_in_token(db, actor=actor, member=resident)
    commit()
    url = url_for("auth.sign_in_link", token=token, _external=True)
    return render_template("sign_in_card.html", resident=resident, url=url, qr=qr_svg(url), community=community)

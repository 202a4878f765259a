"""Passwords (argon2) and one-time sign-in links for residents."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.db import utcnow
from core.errors import Forbidden, Invalid
from core.i18n import N_
from core.models import ApiToken, Member, SignInToken

_hasher = PasswordHasher()
#: a dummy hash checked when the user name is unknown, so timing does not tell
_DUMMY_HASH = _hasher.hash("not a password")


def use_cheap_hashing() -> None:
    """Lower argon2's cost (tests only: thousands of hashes would otherwise take minutes).
    Hashes made with the default cost still verify."""
    global _hasher, _DUMMY_HASH
    _hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    _DUMMY_HASH = _hasher.hash("not a password")

SIGN_IN_LINK_LIFETIME = timedelta(days=7)


def hash_password(password: str) -> str:
    if len(password) < 8:
        raise Invalid(N_("Use at least 8 characters."), field="password")
    return _hasher.hash(password)


def authenticate(db: Session, *, username: str, password: str) -> Member | None:
    member = db.scalar(select(Member).where(Member.username == username))
    stored = member.password_hash if member is not None and member.password_hash else _DUMMY_HASH
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if member is None or not member.active or member.password_hash is None:
        return None
    return member


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


LINK_NOT_VALID = N_("This sign-in link is not valid any more. Ask your grid head for a new one.")


def issue_sign_in_token(db: Session, *, actor: Member | None, member: Member,
                        now: datetime | None = None, lifetime: timedelta = SIGN_IN_LINK_LIFETIME) -> str:
    """A one-time sign-in token for ``member`` (``actor`` None: the operator, from the
    command line). An admin may issue one for any member; staff or the head of the
    resident's place only for a resident who holds no role above resident
    (:func:`core.services.access.can_issue_sign_in_link`). The link is recorded: who
    issued it, for whom, when (:func:`list_sign_in_links`). Returns the token (shown once)."""
    from core.services.access import can_issue_sign_in_link, holds_role_above_resident

    if actor is not None and not can_issue_sign_in_link(db, actor, member):
        if holds_role_above_resident(member):
            raise Forbidden(N_("Only an admin can make a sign-in link for a member who holds a role."),
                            field="member_id")
        raise Forbidden(N_("Only staff or the head of this resident's grid, building or unit can do this."))
    now = now or utcnow()
    token = secrets.token_urlsafe(24)
    db.add(SignInToken(member_id=member.id, token_hash=_digest(token),
                       created_by_id=actor.id if actor else None, created_at=now, expires_at=now + lifetime))
    db.flush()
    return token


def redeem_sign_in_token(db: Session, *, token: str, now: datetime | None = None) -> Member:
    """Use a sign-in token once. Raises Forbidden for an unknown, used or expired token,
    for a member no longer active, and for a link whose issuer may no longer issue one for
    this member (a resident who has since become a host needs a link from an admin).

    The token is claimed by one conditional UPDATE (``used_at`` set only where it is still
    empty and the link unexpired): of several simultaneous redemptions exactly one updates
    a row, whatever the database, and only that one signs in."""
    from core.services.access import can_issue_sign_in_link

    now = now or utcnow()
    digest = _digest(token)
    row = db.scalar(select(SignInToken).where(SignInToken.token_hash == digest))
    if row is None:
        raise Forbidden(LINK_NOT_VALID)
    member = db.get(Member, row.member_id)
    issuer = db.get(Member, row.created_by_id) if row.created_by_id is not None else None
    if member is None or not member.active or (
            row.created_by_id is not None and (issuer is None or not can_issue_sign_in_link(db, issuer, member))):
        raise Forbidden(LINK_NOT_VALID)
    claimed = db.execute(
        update(SignInToken)
        .where(SignInToken.id == row.id, SignInToken.used_at.is_(None), SignInToken.expires_at > now)
        .values(used_at=now)
        .execution_options(synchronize_session=False))
    if claimed.rowcount != 1:
        raise Forbidden(LINK_NOT_VALID)
    db.expire(row)
    return member


def list_sign_in_links(db: Session, *, actor: Member | None, community_id: int, now: datetime | None = None,
                       limit: int = 500) -> list[dict]:
    """The sign-in links issued for members of a community, newest first, for its admins:
    who issued each (None: the operator), for whom, when, when it expires, whether it was
    used. Raises Forbidden for anyone but an admin of the community."""
    from sqlalchemy.orm import aliased

    from core.services.access import require_role

    require_role(db, actor, {"admin"}, community_id=community_id)
    now = now or utcnow()
    issuer = aliased(Member)
    rows = db.execute(
        select(SignInToken, Member, issuer)
        .join(Member, Member.id == SignInToken.member_id)
        .outerjoin(issuer, issuer.id == SignInToken.created_by_id)
        .where(Member.community_id == community_id)
        .order_by(SignInToken.created_at.desc(), SignInToken.id.desc())
        .limit(limit))
    links = []
    for token, member, by in rows:
        state = "used" if token.used_at is not None else "expired" if token.expires_at <= now else "open"
        links.append({"id": token.id, "member_id": member.id, "member_name": member.display_name,
                      "issued_by_id": by.id if by is not None else None,
                      "issued_by_name": by.display_name if by is not None else None,
                      "created_at": token.created_at, "expires_at": token.expires_at, "used_at": token.used_at,
                      "state": state})
    return links


def end_sign_ins(db: Session, *, actor: Member | None, member: Member) -> None:
    """End every sign-in of ``member`` on every device (browser sessions and remember-me
    cookies): the member themselves, an admin of their community, or the operator
    (``actor`` None). Bearer tokens for scripts are not touched."""
    from core.services.access import has_role

    if actor is not None and actor.id != member.id and not has_role(db, actor, {"admin"},
                                                                     community_id=member.community_id):
        raise Forbidden(N_("You are not allowed to do this."))
    db.execute(update(Member).where(Member.id == member.id)
               .values(sign_in_epoch=Member.sign_in_epoch + 1).execution_options(synchronize_session=False))
    db.expire(member, ["sign_in_epoch"])


def issue_api_token(db: Session, *, member: Member, label: str = "") -> str:
    token = "cy_" + secrets.token_urlsafe(32)
    db.add(ApiToken(member_id=member.id, token_hash=_digest(token), label=label[:80]))
    db.flush()
    return token


def member_for_api_token(db: Session, token: str) -> Member | None:
    row = db.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(token)))
    if row is None:
        return None
    member = db.get(Member, row.member_id)
    return member if member is not None and member.active else None

"""Passwords (argon2) and one-time sign-in links for residents."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
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


def issue_sign_in_token(db: Session, *, actor: Member | None, member: Member,
                        now: datetime | None = None, lifetime: timedelta = SIGN_IN_LINK_LIFETIME) -> str:
    """A one-time sign-in token for ``member``; staff or a head of the resident's place
    may issue one (``actor`` None: the operator). Returns the token (shown once)."""
    from core.services.access import can_look_after

    if actor is not None and not can_look_after(db, actor, member):
        raise Forbidden(N_("Only staff or the head of this resident's grid, building or unit can do this."))
    now = now or utcnow()
    token = secrets.token_urlsafe(24)
    db.add(SignInToken(member_id=member.id, token_hash=_digest(token),
                       created_by_id=actor.id if actor else None, created_at=now, expires_at=now + lifetime))
    db.flush()
    return token


def redeem_sign_in_token(db: Session, *, token: str, now: datetime | None = None) -> Member:
    """Use a sign-in token once. Raises Forbidden for an unknown, used or expired token."""
    now = now or utcnow()
    row = db.scalar(select(SignInToken).where(SignInToken.token_hash == _digest(token)))
    if row is None or row.used_at is not None or row.expires_at <= now:
        raise Forbidden(N_("This sign-in link is not valid any more. Ask your grid head for a new one."))
    member = db.get(Member, row.member_id)
    if member is None or not member.active:
        raise Forbidden(N_("This sign-in link is not valid any more. Ask your grid head for a new one."))
    row.used_at = now
    db.flush()
    return member


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

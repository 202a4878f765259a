"""SQLAlchemy models, one module per aggregate. Import from here."""

from core.db import Base
from core.models.community import Community, CommunityPlugin, CustomCategory, Place
from core.models.member import ApiToken, Member, Role, RoleAssignment, SignInToken
from core.models.notification import Notification
from core.models.session import AgendaItem, ConsultationSession, SessionStatus

__all__ = [
    "AgendaItem",
    "ApiToken",
    "Base",
    "Community",
    "CommunityPlugin",
    "ConsultationSession",
    "CustomCategory",
    "Member",
    "Notification",
    "Place",
    "Role",
    "RoleAssignment",
    "SessionStatus",
    "SignInToken",
]

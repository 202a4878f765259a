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
from core.models.live import FloorRequest, LiveConnection, LiveEvent, LiveMessage, LiveRoom, Participant  # noqa: E402

__all__ += ["FloorRequest", "LiveConnection", "LiveEvent", "LiveMessage", "LiveRoom", "Participant"]
from core.models.issue import (  # noqa: E402
    Issue,
    IssueEvent,
    IssuePhoto,
    IssueRating,
    IssueStatus,
    IssueSupport,
    OutsideBody,
)

__all__ += ["Issue", "IssueEvent", "IssuePhoto", "IssueRating", "IssueStatus", "IssueSupport", "OutsideBody"]
from core.models.rotation import (  # noqa: E402
    ApplicationDate,
    CalendarToken,
    HostApplication,
    PlannedSlot,
    ReminderSent,
    RotationSeries,
    SeatReservation,
)

__all__ += ["ApplicationDate", "CalendarToken", "HostApplication", "PlannedSlot", "ReminderSent", "RotationSeries",
            "SeatReservation"]
from core.models.vote import (  # noqa: E402
    AnonymousBallot,
    Ballot,
    BallotLogEntry,
    Motion,
    MotionResult,
    MotionStatus,
    MotionVoter,
    Participation,
    PendingBallot,
    Representative,
)

__all__ += ["AnonymousBallot", "Ballot", "BallotLogEntry", "Motion", "MotionResult", "MotionStatus", "MotionVoter",
            "Participation", "PendingBallot", "Representative"]
from core.models.audit import AuditLog  # noqa: E402
from core.models.household import Household  # noqa: E402

__all__ += ["AuditLog", "Household"]

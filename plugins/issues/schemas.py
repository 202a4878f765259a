"""marshmallow schemas of the issues API (and of the issue forms, which load through the
same schemas so a page and the API refuse the same input the same way)."""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validates_schema

from core.i18n import N_
from core.services import issues as svc
from web.i18n import Msg
from web.schemas import InputSchema, StrictSchema, Text, TLength, TOneOf, TRange

CHOICES = N_("Must be one of: {choices}.")


class IssueInSchema(StrictSchema):
    title = Text(svc.TITLE_MAX, required=True, min_len=1)
    description = Text(svc.DESCRIPTION_MAX, load_default="")
    category_key = fields.String(required=True, validate=TLength(min=1, max=64))
    place_id = fields.Integer(required=True)
    on_behalf_of_id = fields.Integer(allow_none=True, load_default=None)


class IssuePatchSchema(StrictSchema):
    title = Text(svc.TITLE_MAX, min_len=1)
    description = Text(svc.DESCRIPTION_MAX)
    category_key = fields.String(validate=TLength(min=1, max=64))
    place_id = fields.Integer()


class IssueTriageSchema(StrictSchema):
    decision = fields.String(required=True, validate=TOneOf(["accept", "reject", "schedule"], error=CHOICES))
    reason = Text(svc.REASON_MAX, load_default="")
    session_id = fields.Integer(allow_none=True, load_default=None)

    @validates_schema
    def _needs(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("decision") == "reject" and not (data.get("reason") or "").strip():
            raise ValidationError(Msg(N_("Say why, so the resident understands.")), "reason")
        if data.get("decision") == "schedule" and data.get("session_id") is None:
            raise ValidationError(Msg(N_("Choose a session.")), "session_id")


class IssueAssignSchema(StrictSchema):
    department_member_id = fields.Integer(allow_none=True, load_default=None)
    outside_body_id = fields.Integer(allow_none=True, load_default=None)
    due_at = fields.AwareDateTime(allow_none=True, load_default=None)
    due_in_days = fields.Integer(allow_none=True, load_default=None, validate=TRange(min=1, max=180))

    @validates_schema
    def _one(self, data: dict[str, Any], **kwargs: Any) -> None:
        if (data.get("department_member_id") is None) == (data.get("outside_body_id") is None):
            raise ValidationError(Msg(N_("Choose one department or one outside body.")), "department_member_id")
        if (data.get("due_at") is None) == (data.get("due_in_days") is None):
            raise ValidationError(Msg(N_("Give a due date or a number of days.")), "due_at")


class IssueReplySchema(StrictSchema):
    body = Text(svc.REPLY_MAX, required=True, min_len=1)


class IssueNoteSchema(StrictSchema):
    note = Text(svc.REPLY_MAX, load_default="")


class IssueReasonSchema(StrictSchema):
    reason = Text(svc.REASON_MAX, load_default="")


class IssueRateSchema(StrictSchema):
    score = fields.Integer(required=True, validate=TRange(min=1, max=5))
    comment = Text(svc.COMMENT_MAX, load_default="")


class IssueMergeSchema(StrictSchema):
    into_id = fields.Integer(required=True)


class OutsideBodyInSchema(StrictSchema):
    name = Text(svc.OUTSIDE_NAME_MAX, required=True, min_len=1)
    contact = Text(200, load_default="")


class IssueReviewAgendaSchema(StrictSchema):
    session_id = fields.Integer(required=True)
    period = fields.String(load_default="monthly", validate=TOneOf(["monthly", "quarterly"], error=CHOICES))


class IssueListArgs(InputSchema):
    class Meta:
        unknown = EXCLUDE

    category = fields.String(load_default=None, validate=TLength(max=64))
    status = fields.String(load_default=None, validate=TLength(max=16))
    place = fields.Integer(load_default=None)
    limit = fields.Integer(load_default=100, validate=TRange(min=1, max=500))
    offset = fields.Integer(load_default=0, validate=TRange(min=0, max=1_000_000))


class IssueDashboardArgs(InputSchema):
    class Meta:
        unknown = EXCLUDE

    by = fields.String(load_default="category", validate=TOneOf(["category", "place", "department"], error=CHOICES))


class IssueReviewArgs(InputSchema):
    class Meta:
        unknown = EXCLUDE

    period = fields.String(load_default="monthly", validate=TOneOf(["monthly", "quarterly"], error=CHOICES))


# ---------------------------------------------------------------------------
# Output


class IssueMemberBriefSchema(Schema):
    id = fields.Integer()
    display_name = fields.String()


class IssuePlaceSchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    name = fields.String()


class IssueEventSchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    at = fields.AwareDateTime()
    actor = fields.Nested(IssueMemberBriefSchema, allow_none=True)
    data = fields.Dict()


class IssueOutSchema(Schema):
    id = fields.Integer()
    community = fields.String()
    title = fields.String()
    description = fields.String()
    category_key = fields.String()
    status = fields.String()
    place = fields.Nested(IssuePlaceSchema)
    raised_by = fields.Nested(IssueMemberBriefSchema, allow_none=True)
    on_behalf_of = fields.Nested(IssueMemberBriefSchema, allow_none=True)
    rejection_reason = fields.String(allow_none=True)
    session_id = fields.Integer(allow_none=True)
    department = fields.String(allow_none=True)
    assigned_member_id = fields.Integer(allow_none=True)
    outside_body_id = fields.Integer(allow_none=True)
    due_at = fields.AwareDateTime(allow_none=True)
    overdue = fields.Boolean()
    escalation_level = fields.Integer()
    escalation_place = fields.Nested(IssuePlaceSchema, allow_none=True)
    merged_into_id = fields.Integer(allow_none=True)
    supporters = fields.Integer()
    rating_round = fields.Integer()
    ratings = fields.Integer()
    average_rating = fields.Float(allow_none=True)
    photos = fields.List(fields.String())
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()
    first_reply_at = fields.AwareDateTime(allow_none=True)
    resolved_at = fields.AwareDateTime(allow_none=True)
    url = fields.String()
    timeline = fields.List(fields.Nested(IssueEventSchema))


class IssueGroupFiguresSchema(Schema):
    key = fields.String()
    total = fields.Integer()
    counts = fields.Dict(keys=fields.String(), values=fields.Integer())
    median_hours_to_first_reply = fields.Float(allow_none=True)
    median_hours_to_resolution = fields.Float(allow_none=True)
    overdue = fields.Integer()
    with_due_date = fields.Integer()
    overdue_share = fields.Float(allow_none=True)
    ratings = fields.Integer()
    average_satisfaction = fields.Float(allow_none=True)


class IssueReviewItemSchema(Schema):
    section = fields.String()
    issue_id = fields.Integer()
    title = fields.String()
    status = fields.String()
    average = fields.Float(allow_none=True)
    ratings = fields.Integer()


class OutsideBodySchema(Schema):
    id = fields.Integer()
    name = fields.String()
    contact = fields.String()

"""marshmallow schemas of the voting API, forms and live events (unknown fields are
refused). The ballot itself is checked by the tally method's own schema
(:func:`load_ballot`), so a community plugin's method brings its own rules."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from core.i18n import N_
from core.models.vote import ELECTORATES
from core.services.votes import MSG_SECRET_LIVE
from web.i18n import Msg
from web.schemas import InputSchema, StrictSchema, Text, TLength, TOneOf, TRange

CHOICES = N_("Must be one of: {choices}.")
CID_RULE = validate.Regexp(r"^[A-Za-z0-9_-]+$", error=N_("Use letters, digits, hyphens and underscores."))


def _cid(required: bool = False) -> fields.String:
    kw: dict[str, Any] = {"required": True} if required else {"load_default": None, "allow_none": True}
    return fields.String(validate=[TLength(min=8, max=64), CID_RULE], **kw)


class MotionListArgs(InputSchema):
    """``?session_id=`` on the motions list: a session's votes only; ``?limit=``: at most
    that many, newest first."""

    class Meta:
        unknown = "exclude"

    session_id = fields.Integer(load_default=None, allow_none=True)
    limit = fields.Integer(load_default=100, validate=TRange(min=1, max=500))


class MotionInSchema(StrictSchema):
    title = Text(200, required=True, min_len=1)
    description = Text(4000, load_default="")
    method = fields.String(required=True, validate=TLength(min=1, max=64))
    options = fields.List(fields.String(validate=TLength(min=1, max=100)), load_default=list,
                          validate=TLength(max=20))
    params = fields.Dict(keys=fields.String(), load_default=dict)
    quorum = fields.Integer(strict=True, load_default=0, validate=TRange(min=0, max=1_000_000))
    threshold = fields.String(allow_none=True, load_default=None,
                              validate=TOneOf(["simple", "two_thirds"], error=CHOICES))
    electorate = fields.String(load_default="community", validate=TOneOf(list(ELECTORATES), error=CHOICES))
    place_id = fields.Integer(strict=True, allow_none=True, load_default=None)
    voter_ids = fields.List(fields.Integer(strict=True), load_default=list, validate=TLength(max=10_000))
    secret = fields.Boolean(load_default=False)
    results_visibility = fields.String(load_default="after_close",
                                       validate=TOneOf(["live", "after_close"], error=CHOICES))
    opens_at = fields.AwareDateTime(allow_none=True, load_default=None)
    closes_at = fields.AwareDateTime(allow_none=True, load_default=None)
    session_id = fields.Integer(strict=True, allow_none=True, load_default=None)
    agenda_item_id = fields.Integer(strict=True, allow_none=True, load_default=None)
    category_key = fields.String(allow_none=True, load_default=None, validate=TLength(max=64))
    open_now = fields.Boolean(load_default=False)

    @validates_schema
    def _window(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("opens_at") and data.get("closes_at") and data["closes_at"] <= data["opens_at"]:
            raise ValidationError(Msg(N_("The vote must close after it opens.")), "closes_at")

    @validates_schema
    def _secret_not_live(self, data: dict[str, Any], **kwargs: Any) -> None:
        # each change of a running tally would show how the last voter of a secret ballot voted
        if data.get("secret") and data.get("results_visibility") == "live":
            raise ValidationError(Msg(MSG_SECRET_LIVE), "results_visibility")


class VoteInSchema(StrictSchema):
    """A vote: ``ballot`` is the method's ballot object (``{"choice": "yes"}``,
    ``{"ranking": [...]}``, ``{"scores": {...}}``...), checked by the method's schema."""

    ballot = fields.Raw(required=True)
    cid = _cid()
    voter_key = fields.String(allow_none=True, load_default=None, validate=[TLength(min=16, max=64), CID_RULE])
    #: an assisted vote: the resident the host records it for
    member_id = fields.Integer(strict=True, allow_none=True, load_default=None)


class CheckInSchema(StrictSchema):
    """The host checks a resident in at a session (so their vote may be recorded for them)."""

    member_id = fields.Integer(strict=True, required=True)


class LiveVoteSchema(VoteInSchema):
    cid = _cid(required=True)
    motion_id = fields.Integer(strict=True, required=True)


class WatchSchema(StrictSchema):
    motion_id = fields.Integer(strict=True, required=True)


class RepresentativesSchema(StrictSchema):
    member_ids = fields.List(fields.Integer(strict=True), required=True, validate=TLength(max=10_000))


class ReceiptLookupSchema(StrictSchema):
    receipt = fields.String(required=True, validate=[TLength(min=64, max=64),
                                                     validate.Regexp(r"^[0-9a-fA-F]{64}$",
                                                                     error=N_("A receipt is 64 letters and digits (0-9, a-f)."))])


class MotionOutSchema(StrictSchema):
    id = fields.Integer()
    community = fields.String()
    session_id = fields.Integer(allow_none=True)
    agenda_item_id = fields.Integer(allow_none=True)
    title = fields.String()
    description = fields.String()
    options = fields.List(fields.String())
    method = fields.String(attribute="method_key")
    ballot_kind = fields.String()
    params = fields.Dict()
    quorum = fields.Integer()
    electorate = fields.String()
    place_id = fields.Integer(allow_none=True)
    secret = fields.Boolean()
    results_visibility = fields.String()
    opens_at = fields.AwareDateTime(allow_none=True)
    closes_at = fields.AwareDateTime(allow_none=True)
    status = fields.String()
    phase = fields.String()
    category_key = fields.String(allow_none=True)
    eligible = fields.Integer()
    voted = fields.Integer()
    url = fields.String()


def ballot_schema(method: Any, motion: Any) -> Any:
    """The method's ballot schema for ``motion`` (``None``: the method is not available)."""
    if method is None or method.make_ballot_schema is None:
        return None
    return method.make_ballot_schema(list(motion.options), dict(motion.params or {}))


def load_ballot(method: Any, motion: Any, data: Any, *, schema: Any = None) -> Any:
    """The bare ballot, or a :class:`ValidationError` naming the field of the ballot at
    fault (nested under ``ballot``). Nothing is stored before this passed. ``schema``: the
    method's schema for this motion, when the caller keeps one (:func:`ballot_schema`)."""
    schema = schema if schema is not None else ballot_schema(method, motion)
    if schema is None:
        raise ValidationError({"ballot": [Msg(N_("This tally method is not available in this community."))]})
    try:
        return schema.load(data if data is not None else {})
    except ValidationError as exc:
        raise ValidationError({"ballot": exc.messages}) from exc

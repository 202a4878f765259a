"""marshmallow schemas for every ``/live`` payload (unknown fields are refused)."""

from __future__ import annotations

from marshmallow import fields, validate

from core.i18n import N_
from core.services.live import MAX_MESSAGE_LENGTH, MAX_NAME_LENGTH, MAX_PIN_LENGTH, MAX_REASON_LENGTH
from web.schemas import StrictSchema, TLength, TOneOf, TRange

CID = fields.String(required=True, validate=[TLength(min=8, max=64),
                                             validate.Regexp(r"^[A-Za-z0-9_-]+$",
                                                             error=N_("Use letters, digits, hyphens and underscores."))])


def _cid() -> fields.String:
    return fields.String(required=True, validate=CID.validators)


class JoinSchema(StrictSchema):
    code = fields.String(required=True, validate=TLength(min=4, max=16))
    since = fields.Integer(strict=True, allow_none=True, load_default=None, validate=TRange(min=0))
    guest_name = fields.String(allow_none=True, load_default=None, validate=TLength(max=MAX_NAME_LENGTH))
    guest_token = fields.String(allow_none=True, load_default=None, validate=TLength(max=100))


class SyncSchema(StrictSchema):
    since = fields.Integer(strict=True, required=True, validate=TRange(min=0))


class MessageSchema(StrictSchema):
    cid = _cid()
    body = fields.String(required=True, validate=TLength(min=1, max=MAX_MESSAGE_LENGTH))
    reply_to = fields.Integer(strict=True, allow_none=True, load_default=None)


class CidSchema(StrictSchema):
    cid = _cid()


class HideSchema(StrictSchema):
    cid = _cid()
    message_id = fields.Integer(strict=True, required=True)
    reason = fields.String(required=True, validate=TLength(min=1, max=MAX_REASON_LENGTH))


class GrantSchema(StrictSchema):
    cid = _cid()
    participant_id = fields.Integer(strict=True, required=True)
    seconds = fields.Integer(strict=True, allow_none=True, load_default=None, validate=TRange(min=10, max=3600))


class AgendaSchema(StrictSchema):
    cid = _cid()
    position = fields.Integer(strict=True, required=True)


class PinSchema(StrictSchema):
    cid = _cid()
    text = fields.String(allow_none=True, load_default=None, validate=TLength(max=MAX_PIN_LENGTH))


class StatusSchema(StrictSchema):
    cid = _cid()
    status = fields.String(required=True, validate=TOneOf(["live", "closed"], error=N_("Must be one of: {choices}.")))

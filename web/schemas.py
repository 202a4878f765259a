"""marshmallow schemas: every API input is loaded through one, every output dumped."""

from __future__ import annotations

from typing import Any

from flask import request
from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, pre_load, validate, validates_schema

from core.i18n import N_
from web.i18n import Msg
from web.inputs import INT_MAX, INT_MIN, check_data


class TLength(validate.Length):
    """``Length`` whose message is translated at the edge."""

    def _format_error(self, value: Any, message: str) -> str:  # type: ignore[override]
        if self.error is None and self.max is not None and self.equal is None and len(value) > self.max:
            message = self.message_max  # "too long" says more than "between 1 and 200"
        return Msg(self.error or message, min=self.min, max=self.max, equal=self.equal)


class TRange(validate.Range):
    def _format_error(self, value: Any, message: str) -> str:  # type: ignore[override]
        return Msg(self.error or message, min=self.min, max=self.max)


class TOneOf(validate.OneOf):
    def _format_error(self, value: Any) -> str:  # type: ignore[override]
        return Msg(self.error, choices=self.choices_text, labels=self.labels_text)


def Text(max_len: int, *, required: bool = False, min_len: int = 0, **kw: Any) -> fields.String:
    return fields.String(required=required, validate=TLength(min=min_len or None, max=max_len), **kw)


#: dates the edge accepts: a meeting or vote in year 9999 is a typo, and adding a day to it
#: would overflow
YEAR_MIN, YEAR_MAX = 1970, 2999


class YearRange(validate.Validator):
    """A date or datetime within YEAR_MIN .. YEAR_MAX."""

    error = N_("Give a date between the years {min} and {max}.")

    def __call__(self, value: Any) -> Any:
        if not YEAR_MIN <= value.year <= YEAR_MAX:
            raise ValidationError(Msg(self.error, min=YEAR_MIN, max=YEAR_MAX))
        return value


def _bound(field: fields.Field) -> None:
    """Give ``field`` (a schema's own copy) the database's limits: integers fit an INTEGER column,
    dates fall within YEAR_MIN .. YEAR_MAX. Lists are bounded element by element."""
    if isinstance(field, fields.List):
        _bound(field.inner)
    elif isinstance(field, fields.Integer):
        field.validators = [*field.validators, TRange(min=INT_MIN, max=INT_MAX)]
    elif isinstance(field, (fields.DateTime, fields.Date)):
        field.validators = [*field.validators, YearRange()]


def _strict(field: fields.Field) -> None:
    """A JSON integer field takes a JSON integer: not ``"3"``, ``3.5`` nor ``true``."""
    if isinstance(field, fields.List):
        _strict(field.inner)
    elif isinstance(field, fields.Nested) and isinstance(field.schema, Schema):
        for inner in field.schema.load_fields.values():
            _strict(inner)
    elif isinstance(field, fields.Integer):
        field.strict = True
        field.validators = [_not_bool, *field.validators]


def _not_bool(value: Any) -> None:
    if isinstance(value, bool):
        raise ValidationError(Msg(N_("Not a valid integer.")))


class InputSchema(Schema):
    """The base of every input schema (API bodies, query strings, forms, socket events,
    commands): refused text (``web.inputs``) is an error naming its field before anything
    else is looked at, integers fit the database and dates stay within sane years."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.load_fields.values():
            _bound(field)

    @pre_load
    def _refuse_bad_text(self, data: Any, **kwargs: Any) -> Any:
        check_data(data)
        return data


class StrictSchema(InputSchema):
    """Unknown fields are an error, so a typo is not silently ignored."""

    class Meta:
        unknown = RAISE


def load_json(schema: Schema, *, partial: bool = False) -> dict[str, Any]:
    """Load the request's JSON body through ``schema``; malformed JSON names itself, and
    integer fields take JSON integers only (``"3"`` and ``3.5`` are refused)."""
    data = request.get_json(silent=True)
    if data is None:
        raise ValidationError({"_schema": [Msg(N_("The request body is not valid JSON."))]})
    if not isinstance(data, dict):
        raise ValidationError({"_schema": [Msg(N_("Send a JSON object."))]})
    for field in schema.load_fields.values():
        _strict(field)
    return schema.load(data, partial=partial)


def load_args(schema: Schema) -> dict[str, Any]:
    return schema.load(request.args.to_dict())


# ---------------------------------------------------------------------------


class NamesSchema(InputSchema):
    zh_CN = fields.String(required=True, validate=TLength(min=1, max=80), data_key="zh_CN")
    en = fields.String(required=True, validate=TLength(min=1, max=80))


class CategorySchema(Schema):
    key = fields.String()
    name = fields.String()
    names = fields.Dict(keys=fields.String(), values=fields.String())
    color = fields.String()


class CategoryInSchema(StrictSchema):
    key = fields.String(required=True, validate=[TLength(min=1, max=63),
                                                 validate.Regexp(r"^[a-z0-9][a-z0-9_-]*$",
                                                                 error=N_("Use lower-case letters, digits, hyphens and underscores."))])
    names = fields.Nested(NamesSchema, required=True)
    color = fields.String(load_default="#6b7280", validate=validate.Regexp(r"^#[0-9a-fA-F]{6}$",
                                                                          error=N_("Use a colour like #1f7a4d.")))


class FormatSchema(Schema):
    key = fields.String()
    name = fields.String()
    description = fields.String()
    default_capacity = fields.Integer(allow_none=True)
    rotating_host = fields.Boolean()
    departments_at_table = fields.Boolean()
    formal_votes = fields.Boolean()
    review = fields.Boolean()


class CommunitySchema(Schema):
    id = fields.Integer()
    slug = fields.String()
    name = fields.String()
    names = fields.Dict(keys=fields.String(), values=fields.String())
    default_locale = fields.String()
    timezone = fields.String()


class MemberBriefSchema(Schema):
    id = fields.Integer()
    display_name = fields.String()


class AgendaItemSchema(Schema):
    id = fields.Integer()
    position = fields.Integer()
    title = fields.String()
    notes = fields.String()
    category_key = fields.String(allow_none=True)


class AgendaItemInSchema(StrictSchema):
    title = Text(200, required=True, min_len=1)
    notes = Text(4000, load_default="")
    category_key = fields.String(allow_none=True, load_default=None, validate=TLength(max=64))


class SessionSchema(Schema):
    id = fields.Integer()
    community = fields.Function(lambda s: s.community_slug if hasattr(s, "community_slug") else None)
    format_key = fields.String()
    title = fields.String()
    description = fields.String()
    host = fields.Nested(MemberBriefSchema, allow_none=True)
    venue = fields.String()
    capacity = fields.Integer(allow_none=True)
    starts_at = fields.AwareDateTime()
    ends_at = fields.AwareDateTime()
    status = fields.String()
    category_key = fields.String(allow_none=True)
    allow_guests = fields.Boolean()
    join_code = fields.String(allow_none=True, metadata={
        "description": "Only for members of the community (its host and staff among them); null for anyone else."})
    version = fields.Integer()
    agenda = fields.List(fields.Nested(AgendaItemSchema))


class SessionInSchema(StrictSchema):
    format_key = fields.String(required=True, validate=TLength(min=1, max=64))
    title = Text(200, required=True, min_len=1)
    description = Text(4000, load_default="")
    host_id = fields.Integer(allow_none=True, load_default=None, strict=True)
    venue = Text(200, load_default="")
    capacity = fields.Integer(allow_none=True, load_default=None, strict=True, validate=TRange(min=1, max=100000))
    starts_at = fields.AwareDateTime(required=True)
    ends_at = fields.AwareDateTime(allow_none=True, load_default=None)
    category_key = fields.String(allow_none=True, load_default=None, validate=TLength(max=64))
    allow_guests = fields.Boolean(load_default=False)
    status = fields.String(load_default="draft", validate=TOneOf(["draft", "scheduled"], error=N_("Must be one of: {choices}.")))
    agenda = fields.List(Text(200, min_len=1), load_default=list, validate=TLength(max=50))

    @validates_schema
    def _order(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("ends_at") and data.get("starts_at") and data["ends_at"] <= data["starts_at"]:
            raise ValidationError(Msg(N_("The end must be after the start.")), "ends_at")


class SessionPatchSchema(StrictSchema):
    format_key = fields.String(validate=TLength(min=1, max=64))
    title = Text(200, min_len=1)
    description = Text(4000)
    host_id = fields.Integer(allow_none=True, strict=True)
    venue = Text(200)
    capacity = fields.Integer(allow_none=True, strict=True, validate=TRange(min=1, max=100000))
    starts_at = fields.AwareDateTime()
    ends_at = fields.AwareDateTime()
    category_key = fields.String(allow_none=True, validate=TLength(max=64))
    allow_guests = fields.Boolean()
    version = fields.Integer(strict=True)


class StatusInSchema(StrictSchema):
    status = fields.String(required=True, validate=TOneOf(["draft", "scheduled", "live", "closed"],
                                                          error=N_("Must be one of: {choices}.")))


class SessionListArgs(InputSchema):
    class Meta:
        unknown = EXCLUDE

    upcoming = fields.Boolean(load_default=False)
    category = fields.String(load_default=None, validate=TLength(max=64))
    limit = fields.Integer(load_default=100, validate=TRange(min=1, max=500))


class MeSchema(Schema):
    id = fields.Integer()
    display_name = fields.String()
    community = fields.String()
    roles = fields.List(fields.Dict())
    locale = fields.String(allow_none=True)
    large_text = fields.Boolean()


class PreferencesSchema(StrictSchema):
    locale = fields.String(validate=TOneOf(["zh_CN", "en"], error=N_("Must be one of: {choices}.")))
    large_text = fields.Boolean()


class SignInLinkInSchema(StrictSchema):
    member_id = fields.Integer(required=True, strict=True)


class SignInLinkSchema(Schema):
    member_id = fields.Integer()
    url = fields.String(metadata={"description": "The one-time link; shown once, only its hash is kept."})


class SignInLinkListArgs(InputSchema):
    """``?limit=`` on the record of issued sign-in links: at most that many, newest first."""

    class Meta:
        unknown = EXCLUDE

    limit = fields.Integer(load_default=100, validate=TRange(min=1, max=500))


class IssuedSignInLinkSchema(Schema):
    id = fields.Integer()
    member_id = fields.Integer(metadata={"description": "Who the link signs in as."})
    member_name = fields.String()
    issued_by_id = fields.Integer(allow_none=True, metadata={"description": "Null: made by the operator (command line)."})
    issued_by_name = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()
    expires_at = fields.AwareDateTime()
    used_at = fields.AwareDateTime(allow_none=True)
    state = fields.String(metadata={"description": "open, used or expired"})


class PluginToggleSchema(StrictSchema):
    enabled = fields.Boolean(required=True)


class ErrorDetailSchema(Schema):
    status = fields.Integer()
    message = fields.String()
    fields_ = fields.Dict(data_key="fields")


class ErrorEnvelope(Schema):
    """Documented as ``Error``; its inner object is ``ErrorDetail`` (two schemas named
    "Error" made the document's Error refer to itself)."""

    error = fields.Nested(ErrorDetailSchema, required=True)

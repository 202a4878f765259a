"""marshmallow schemas of the rota API (and of the HTML forms, which load through them too)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from core.i18n import N_
from web.i18n import Msg
from web.schemas import InputSchema, StrictSchema, Text, TLength, TRange

#: YYYY-MM within the years the edge accepts (web.schemas.YEAR_MIN .. YEAR_MAX): month
#: 0000-01 or 9999-12 would overflow the calendar arithmetic
MONTH = r"^(19[7-9]\d|2\d{3})-(0[1-9]|1[0-2])$"


def _no_duplicates(data: dict[str, Any], key: str = "dates") -> None:
    seen = set()
    for d in data.get(key) or []:
        if d in seen:
            raise ValidationError(Msg(N_("The date {date} is listed twice."), date=d.isoformat()), key)
        seen.add(d)


class RotaSeriesInSchema(StrictSchema):
    title = Text(200, required=True, min_len=1)
    weekdays = fields.List(fields.Integer(strict=True, validate=TRange(min=0, max=6)), load_default=list,
                           validate=TLength(max=7))
    dates = fields.List(fields.Date(), load_default=list, validate=TLength(max=200))
    start_time = fields.String(load_default="14:00", validate=validate.Regexp(
        r"^([01]\d|2[0-3]):[0-5]\d$", error=N_("Give the time as HH:MM.")))
    per_month = fields.Integer(strict=True, allow_none=True, load_default=None, validate=TRange(min=1, max=31))
    duration_minutes = fields.Integer(strict=True, load_default=120, validate=TRange(min=15, max=720))
    min_capacity = fields.Integer(strict=True, load_default=8, validate=TRange(min=1, max=1000))
    category_key = fields.String(allow_none=True, load_default=None, validate=TLength(max=64))

    @validates_schema
    def _check(self, data: dict[str, Any], **kwargs: Any) -> None:
        _no_duplicates(data)
        if len(set(data.get("weekdays") or [])) != len(data.get("weekdays") or []):
            raise ValidationError(Msg(N_("Pick each weekday at most once.")), "weekdays")
        if not data.get("weekdays") and not data.get("dates"):
            raise ValidationError(Msg(N_("Pick weekdays or dates.")), "weekdays")


class RotaApplicationInSchema(StrictSchema):
    venue_address = Text(300, required=True, min_len=1)
    venue_label = Text(200, load_default="")
    seats = fields.Integer(strict=True, required=True, validate=TRange(min=1, max=500))
    topic = Text(200, required=True, min_len=1)
    bring_note = Text(300, load_default="")
    dates = fields.List(fields.Date(), required=True, validate=TLength(min=1, max=100))

    @validates_schema
    def _check(self, data: dict[str, Any], **kwargs: Any) -> None:
        _no_duplicates(data)


class RotaPlanInSchema(StrictSchema):
    month = fields.String(required=True, validate=validate.Regexp(MONTH,
                                                                  error=N_("Give the month as YYYY-MM.")))
    version = fields.Integer(strict=True, load_default=None, allow_none=True)


class RotaVersionInSchema(StrictSchema):
    version = fields.Integer(strict=True, load_default=None, allow_none=True)


class RotaSwapInSchema(RotaVersionInSchema):
    other_slot_id = fields.Integer(strict=True, required=True)


class RotaOverrideInSchema(RotaVersionInSchema):
    host_id = fields.Integer(strict=True, required=True)


class RotaReservationInSchema(StrictSchema):
    bringing = Text(200, load_default="")


class RotaMonthArgs(InputSchema):
    class Meta:
        unknown = "exclude"

    month = fields.String(load_default=None, validate=validate.Regexp(MONTH,
                                                                      error=N_("Give the month as YYYY-MM.")))


# -- output ------------------------------------------------------------------


class RotaMemberBrief(Schema):
    id = fields.Integer()
    display_name = fields.String()


class RotaSeriesSchema(Schema):
    id = fields.Integer()
    title = fields.String()
    format_key = fields.String()
    category_key = fields.String(allow_none=True)
    weekdays = fields.List(fields.Integer())
    dates = fields.List(fields.String())
    start_time = fields.String()
    per_month = fields.Integer(allow_none=True)
    duration_minutes = fields.Integer()
    min_capacity = fields.Integer()
    version = fields.Integer()


class RotaSlotSchema(Schema):
    id = fields.Integer()
    series_id = fields.Integer()
    starts_at = fields.AwareDateTime()
    ends_at = fields.AwareDateTime()
    state = fields.String()
    host = fields.Nested(RotaMemberBrief, allow_none=True)
    session_id = fields.Integer(allow_none=True)
    venue = fields.String(allow_none=True)
    topic = fields.String(allow_none=True)


class RotaPlanSchema(Schema):
    series = fields.Nested(RotaSeriesSchema)
    month = fields.String()
    version = fields.Integer()
    slots = fields.List(fields.Nested(RotaSlotSchema))


class RotaApplicationSchema(Schema):
    id = fields.Integer()
    series_id = fields.Integer()
    member = fields.Nested(RotaMemberBrief)
    venue_label = fields.String()
    venue_address = fields.String()
    seats = fields.Integer()
    topic = fields.String()
    bring_note = fields.String()
    status = fields.String()
    dates = fields.List(fields.Date())


class RotaReservationSchema(Schema):
    member = fields.Nested(RotaMemberBrief)
    status = fields.String()
    position = fields.Integer()
    bringing = fields.String()


class RotaTalkSchema(Schema):
    id = fields.Integer()
    title = fields.String()
    starts_at = fields.AwareDateTime()
    ends_at = fields.AwareDateTime()
    status = fields.String()
    venue = fields.String()
    address = fields.String(allow_none=True)
    bring_note = fields.String()
    host = fields.Nested(RotaMemberBrief, allow_none=True)
    capacity = fields.Integer(allow_none=True)
    seats_taken = fields.Integer()
    waiting = fields.Integer()
    my_reservation = fields.Nested(RotaReservationSchema, allow_none=True)
    cancelled = fields.Boolean()


class RotaCalendarTokenSchema(Schema):
    url = fields.String()

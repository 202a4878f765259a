"""Ballot schemas: refuse an invalid ballot before it is stored.

``make_*_schema(options, params)`` returns a marshmallow schema instance. Its
``load(data)`` takes the ballot as it arrives at the edge and returns it in the form
the tally function consumes:

=============================  ===============================  ==================
method                         ``data``                         ``load()`` returns
=============================  ===============================  ==================
majority                       ``{"choice": "yes"}``            ``"yes"``
plurality                      ``{"choice": "A"}``              ``"A"``
approval                       ``{"approvals": ["A", "C"]}``    ``["A", "C"]``
irv, schulze, borda            ``{"ranking": ["B", "A"]}``      ``["B", "A"]``
score, satisfaction            ``{"scores": {"A": 3}}``         ``{"A": 3}``
=============================  ===============================  ==================

or raises :class:`marshmallow.ValidationError` with plain-English messages keyed by
field name (``choice``, ``ranking``, ``approvals``, ``scores``). Messages are marked
with :func:`core.i18n.N_` and carry no interpolated values, so the web layer can look
them up in the catalogue as they are.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from marshmallow import Schema, ValidationError, fields, post_load

from core.i18n import N_
from plugins.tally._common import check_params
from plugins.tally.methods import MAJORITY_CHOICES

# Messages (one place, so tests and translators see the whole list).
MSG_REQUIRED = N_("This field is required.")
MSG_NULL = N_("This field may not be empty.")
MSG_NOT_OBJECT = N_("A ballot must be an object.")
MSG_UNKNOWN_FIELD = N_("This field is not part of a ballot.")
MSG_CHOICE_TYPE = N_("Choose one option.")
MSG_CHOICE_EMPTY = N_("Choose one option.")
MSG_CHOICE_UNKNOWN = N_("This option is not on the ballot.")
MSG_YESNO = N_("Vote yes, no or abstain.")
MSG_LIST_TYPE = N_("Give a list of options.")
MSG_APPROVALS_EMPTY = N_("Approve at least one option.")
MSG_APPROVALS_DUPLICATE = N_("An option is approved more than once.")
MSG_APPROVALS_UNKNOWN = N_("An approved option is not on the ballot.")
MSG_APPROVALS_TOO_MANY = N_("Too many options are approved.")
MSG_RANKING_EMPTY = N_("Rank at least one option.")
MSG_RANKING_GAP = N_("The ranking has an empty place.")
MSG_RANKING_DUPLICATE = N_("An option is ranked more than once.")
MSG_RANKING_UNKNOWN = N_("A ranked option is not on the ballot.")
MSG_ITEM_TYPE = N_("Options are named by text.")
MSG_SCORES_TYPE = N_("Give a score for each option you rate.")
MSG_SCORES_EMPTY = N_("Score at least one option.")
MSG_SCORES_UNKNOWN = N_("A scored option is not on the ballot.")
MSG_SCORE_NOT_INT = N_("Scores are whole numbers.")
MSG_SCORE_RANGE = N_("A score is out of range.")
MSG_RATING_RANGE = N_("Ratings go from 1 to 5.")


class BallotSchema(Schema):
    """Base: unknown keys are refused, the outer value must be an object, and
    ``load()`` returns the single field's normalised value (the bare ballot)."""

    FIELD = ""

    class Meta:
        unknown = "raise"

    _default_error_messages = {"type": MSG_NOT_OBJECT, "unknown": MSG_UNKNOWN_FIELD}

    def __init__(self, options: Sequence[str], params: Mapping[str, Any] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.options = list(options)
        self.option_set = set(self.options)
        self.params = dict(params or {})

    @post_load
    def _bare(self, data: dict[str, Any], **kwargs: Any) -> Any:
        return data[self.FIELD]


def _messages() -> dict[str, str]:
    return {"required": MSG_REQUIRED, "null": MSG_NULL}


def _schema_of(field: fields.Field) -> Schema:
    parent = field.parent
    while parent is not None and not isinstance(parent, Schema):
        parent = getattr(parent, "parent", None)
    assert parent is not None
    return parent


class ChoiceField(fields.Field):
    """One option, named by its text."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        schema = _schema_of(self)
        if not isinstance(value, str):
            raise ValidationError(MSG_CHOICE_TYPE)
        if not value.strip():
            raise ValidationError(MSG_CHOICE_EMPTY)
        if value not in schema.option_set:
            raise ValidationError(MSG_CHOICE_UNKNOWN)
        return value


class YesNoField(fields.Field):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str) or value not in MAJORITY_CHOICES:
            raise ValidationError(MSG_YESNO)
        return value


def _option_list(value: Any, schema: "BallotSchema", *, empty: str, duplicate: str,
                 unknown: str) -> list[str]:
    """Shared checks for approvals and rankings: a list of distinct known options, with
    no empty places."""
    if not isinstance(value, list):
        raise ValidationError(MSG_LIST_TYPE)
    if not value:
        raise ValidationError(empty)
    for item in value:
        if item is None or (isinstance(item, str) and not item.strip()):
            raise ValidationError(MSG_RANKING_GAP)
        if not isinstance(item, str):
            raise ValidationError(MSG_ITEM_TYPE)
    if len(set(value)) != len(value):
        raise ValidationError(duplicate)
    if any(item not in schema.option_set for item in value):
        raise ValidationError(unknown)
    return list(value)


class RankingField(fields.Field):
    """Options most preferred first; may stop early (truncated) but has no gaps."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> list[str]:
        return _option_list(value, _schema_of(self), empty=MSG_RANKING_EMPTY,
                            duplicate=MSG_RANKING_DUPLICATE, unknown=MSG_RANKING_UNKNOWN)


class ApprovalsField(fields.Field):
    """The approved options, at most ``max_approvals``; returned in options order."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> list[str]:
        schema = _schema_of(self)
        approvals = _option_list(value, schema, empty=MSG_APPROVALS_EMPTY,
                                 duplicate=MSG_APPROVALS_DUPLICATE,
                                 unknown=MSG_APPROVALS_UNKNOWN)
        limit = schema.params.get("max_approvals")
        if limit is not None and len(approvals) > limit:
            raise ValidationError(MSG_APPROVALS_TOO_MANY)
        order = {o: i for i, o in enumerate(schema.options)}
        return sorted(approvals, key=order.__getitem__)


class ScoresField(fields.Field):
    """``{option: whole number}`` within ``[low, high]``; at least one option."""

    def __init__(self, *, fixed: tuple[int, int] | None, range_message: str,
                 **kwargs: Any) -> None:
        """``fixed``: a fixed range (satisfaction: 1..5); ``None`` reads the schema's
        ``min`` / ``max`` parameters."""
        super().__init__(**kwargs)
        self.fixed = fixed
        self.range_message = range_message

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> dict[str, int]:
        schema = _schema_of(self)
        if self.fixed is not None:
            low, high = self.fixed
        else:
            low, high = schema.params["min"], schema.params["max"]
        if not isinstance(value, dict):
            raise ValidationError(MSG_SCORES_TYPE)
        if not value:
            raise ValidationError(MSG_SCORES_EMPTY)
        for option, score in value.items():
            if not isinstance(option, str) or option not in schema.option_set:
                raise ValidationError(MSG_SCORES_UNKNOWN)
            if isinstance(score, bool) or not isinstance(score, (int, float)):
                raise ValidationError(MSG_SCORE_NOT_INT)
            if isinstance(score, float) and not score.is_integer():
                raise ValidationError(MSG_SCORE_NOT_INT)
            if not low <= score <= high:
                raise ValidationError(self.range_message)
        order = {o: i for i, o in enumerate(schema.options)}
        return {o: int(value[o]) for o in sorted(value, key=order.__getitem__)}


class MajorityBallotSchema(BallotSchema):
    FIELD = "choice"
    choice = YesNoField(required=True, error_messages=_messages())


class PluralityBallotSchema(BallotSchema):
    FIELD = "choice"
    choice = ChoiceField(required=True, error_messages=_messages())


class ApprovalBallotSchema(BallotSchema):
    FIELD = "approvals"
    approvals = ApprovalsField(required=True, error_messages=_messages())


class RankingBallotSchema(BallotSchema):
    FIELD = "ranking"
    ranking = RankingField(required=True, error_messages=_messages())


class ScoreBallotSchema(BallotSchema):
    FIELD = "scores"
    scores = ScoresField(required=True, error_messages=_messages(), fixed=None,
                         range_message=MSG_SCORE_RANGE)


class SatisfactionBallotSchema(BallotSchema):
    FIELD = "scores"
    scores = ScoresField(required=True, error_messages=_messages(), fixed=(1, 5),
                         range_message=MSG_RATING_RANGE)


_SCHEMAS: dict[str, type[BallotSchema]] = {
    "majority": MajorityBallotSchema,
    "plurality": PluralityBallotSchema,
    "approval": ApprovalBallotSchema,
    "irv": RankingBallotSchema,
    "schulze": RankingBallotSchema,
    "borda": RankingBallotSchema,
    "score": ScoreBallotSchema,
    "satisfaction": SatisfactionBallotSchema,
}

#: the key of the edge dict for each method (``{"ranking": [...]}``...)
BALLOT_FIELD = {key: cls.FIELD for key, cls in _SCHEMAS.items()}


def schema_factory(method: str):
    """``make_ballot_schema(options, params)`` for ``method``. ``params`` are checked
    (and defaulted) like the tally function does; a bad parameter raises ValueError."""
    cls = _SCHEMAS[method]

    def make_ballot_schema(options: Sequence[str], params: Mapping[str, Any] | None = None) -> BallotSchema:
        return cls(options, check_params(method, params))

    make_ballot_schema.__name__ = f"make_{method}_ballot_schema"
    make_ballot_schema.__doc__ = f"A {cls.__name__} for these options and parameters."
    return make_ballot_schema

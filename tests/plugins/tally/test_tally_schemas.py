"""Ballot schemas: what they accept, how they normalise, and every refusal."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from marshmallow import ValidationError

from plugins.tally import METHODS
from plugins.tally import schemas as S

OPTIONS = ["Garden", "Parking", "Playground"]


def schema(method, params=None):
    return METHODS[method].make_ballot_schema(OPTIONS, params or {})


def refused(method, data, params=None):
    with pytest.raises(ValidationError) as info:
        schema(method, params).load(data)
    return info.value.messages


# -- accepted and normalised -------------------------------------------------------


@pytest.mark.parametrize("method,data,expected", [
    ("majority", {"choice": "yes"}, "yes"),
    ("majority", {"choice": "abstain"}, "abstain"),
    ("plurality", {"choice": "Parking"}, "Parking"),
    ("approval", {"approvals": ["Playground", "Garden"]}, ["Garden", "Playground"]),
    ("irv", {"ranking": ["Playground", "Garden"]}, ["Playground", "Garden"]),
    ("schulze", {"ranking": ["Parking"]}, ["Parking"]),
    ("borda", {"ranking": ["Parking", "Garden", "Playground"]}, ["Parking", "Garden", "Playground"]),
    ("score", {"scores": {"Parking": 10, "Garden": 0}}, {"Garden": 0, "Parking": 10}),
    ("score", {"scores": {"Garden": 7.0}}, {"Garden": 7}),
    ("satisfaction", {"scores": {"Garden": 1, "Playground": 5}}, {"Garden": 1, "Playground": 5}),
])
def test_loads_and_normalises(method, data, expected):
    loaded = schema(method).load(data)
    assert loaded == expected
    assert type(loaded) is type(expected)


def test_loaded_ballot_feeds_the_tally():
    s = schema("irv")
    ballots = [s.load({"ranking": r}) for r in (["Garden"], ["Parking", "Garden"], ["Garden"])]
    assert METHODS["irv"].tally(OPTIONS, ballots, None, {})["winners"] == ["Garden"]


# -- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize("method,field", [
    ("majority", "choice"), ("plurality", "choice"), ("approval", "approvals"),
    ("irv", "ranking"), ("schulze", "ranking"), ("borda", "ranking"),
    ("score", "scores"), ("satisfaction", "scores"),
])
def test_missing_null_and_extra_fields(method, field):
    assert refused(method, {}) == {field: [S.MSG_REQUIRED]}
    assert refused(method, {field: None}) == {field: [S.MSG_NULL]}
    good = {"majority": "no", "plurality": "Garden", "approval": ["Garden"],
            "irv": ["Garden"], "schulze": ["Garden"], "borda": ["Garden"],
            "score": {"Garden": 1}, "satisfaction": {"Garden": 1}}[method]
    assert refused(method, {field: good, "voter": 3}) == {"voter": [S.MSG_UNKNOWN_FIELD]}
    assert refused(method, [good]) == {"_schema": [S.MSG_NOT_OBJECT]}


@pytest.mark.parametrize("value,message", [
    ("", S.MSG_CHOICE_EMPTY), ("   ", S.MSG_CHOICE_EMPTY), ("Pool", S.MSG_CHOICE_UNKNOWN),
    (3, S.MSG_CHOICE_TYPE), (["Garden"], S.MSG_CHOICE_TYPE),
])
def test_plurality_refusals(value, message):
    assert refused("plurality", {"choice": value}) == {"choice": [message]}


@pytest.mark.parametrize("value", ["", "YES", "maybe", True, 1, ["yes"]])
def test_majority_refusals(value):
    assert refused("majority", {"choice": value}) == {"choice": [S.MSG_YESNO]}


@pytest.mark.parametrize("value,message", [
    ([], S.MSG_APPROVALS_EMPTY),
    (["Garden", "Garden"], S.MSG_APPROVALS_DUPLICATE),
    (["Garden", "Pool"], S.MSG_APPROVALS_UNKNOWN),
    ("Garden", S.MSG_LIST_TYPE),
    ({"Garden": True}, S.MSG_LIST_TYPE),
    ([1], S.MSG_ITEM_TYPE),
    (["Garden", ""], S.MSG_RANKING_GAP),
])
def test_approval_refusals(value, message):
    assert refused("approval", {"approvals": value}) == {"approvals": [message]}


def test_too_many_approvals():
    data = {"approvals": ["Garden", "Parking"]}
    assert refused("approval", data, {"max_approvals": 1}) == {"approvals": [S.MSG_APPROVALS_TOO_MANY]}
    assert schema("approval", {"max_approvals": 2}).load(data) == ["Garden", "Parking"]


@pytest.mark.parametrize("method", ["irv", "schulze", "borda"])
@pytest.mark.parametrize("value,message", [
    ([], S.MSG_RANKING_EMPTY),
    (["Garden", None, "Parking"], S.MSG_RANKING_GAP),
    (["Garden", "", "Parking"], S.MSG_RANKING_GAP),
    (["Garden", "Parking", "Garden"], S.MSG_RANKING_DUPLICATE),
    (["Garden", "Pool"], S.MSG_RANKING_UNKNOWN),
    ("Garden", S.MSG_LIST_TYPE),
    ({"1": "Garden"}, S.MSG_LIST_TYPE),
    (["Garden", 2], S.MSG_ITEM_TYPE),
])
def test_ranking_refusals(method, value, message):
    assert refused(method, {"ranking": value}) == {"ranking": [message]}


@pytest.mark.parametrize("value,message", [
    ({}, S.MSG_SCORES_EMPTY),
    ({"Pool": 3}, S.MSG_SCORES_UNKNOWN),
    ({"Garden": 11}, S.MSG_SCORE_RANGE),
    ({"Garden": -1}, S.MSG_SCORE_RANGE),
    ({"Garden": 2.5}, S.MSG_SCORE_NOT_INT),
    ({"Garden": "7"}, S.MSG_SCORE_NOT_INT),
    ({"Garden": True}, S.MSG_SCORE_NOT_INT),
    ({"Garden": None}, S.MSG_SCORE_NOT_INT),
    (["Garden", 3], S.MSG_SCORES_TYPE),
])
def test_score_refusals(value, message):
    assert refused("score", {"scores": value}) == {"scores": [message]}


def test_score_range_comes_from_params():
    assert schema("score", {"min": 1, "max": 5}).load({"scores": {"Garden": 5}}) == {"Garden": 5}
    assert refused("score", {"scores": {"Garden": 6}}, {"min": 1, "max": 5}) == {"scores": [S.MSG_SCORE_RANGE]}
    assert refused("score", {"scores": {"Garden": 0}}, {"min": 1, "max": 5}) == {"scores": [S.MSG_SCORE_RANGE]}


@pytest.mark.parametrize("value,message", [
    ({"Garden": 0}, S.MSG_RATING_RANGE), ({"Garden": 6}, S.MSG_RATING_RANGE),
    ({"Garden": 3.5}, S.MSG_SCORE_NOT_INT), ({}, S.MSG_SCORES_EMPTY),
])
def test_satisfaction_refusals(value, message):
    assert refused("satisfaction", {"scores": value}) == {"scores": [message]}


def test_bad_params_refused_when_building_schema():
    with pytest.raises(ValueError):
        schema("approval", {"max_approvals": 0})
    with pytest.raises(ValueError):
        schema("majority", {"threshold": "most"})


def test_every_message_is_marked_for_translation():
    """Each MSG_* constant is written as N_("...") so babel extracts it."""
    source = Path(S.__file__).read_text(encoding="utf-8")
    tree = ast.parse(source)
    marked = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) \
                and node.targets[0].id.startswith("MSG_"):
            call = node.value
            assert isinstance(call, ast.Call) and getattr(call.func, "id", None) == "N_", node.targets[0].id
            marked[node.targets[0].id] = call.args[0].value
    assert len(marked) >= 20
    for value in marked.values():
        assert value[0].isupper() and value.endswith("."), value

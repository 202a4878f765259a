"""What the edge accepts: the one place that says which text, numbers and dates may
enter Courtyard, and the request gate that applies it to every request.

Text: no NUL (PostgreSQL refuses it), no other C0 control character but tab, line feed
and carriage return, no lone surrogate (``"a\\ud800"`` is valid JSON, but no page or
database can encode it) and no U+FFFE/U+FFFF non-characters. Query parameters and URL
parts are single lines. Numbers fit a 32-bit signed integer (the database's ``INTEGER``
columns, ids included: PostgreSQL refuses more); ids in URLs are 0 .. 2^31-1 (anything
else is a 404). JSON bodies nest at most
``MAX_DEPTH`` levels.

:func:`text_fault` and :func:`find_text_fault` are used by the request gate (query,
form, JSON body and URL of every route, the sign-in form included) and by
``web.schemas.InputSchema`` (every schema, so socket events and commands too)."""

from __future__ import annotations

import json
import re
from typing import Any, Iterator

from flask import Flask, request
from flask.json.provider import DefaultJSONProvider
from flask.wrappers import Response
from marshmallow import ValidationError
from werkzeug.routing import IntegerConverter

from core.i18n import N_
from web.i18n import Msg

#: the range of the database's INTEGER columns (every id is one): PostgreSQL's int4
INT_MIN = -(2**31)
INT_MAX = 2**31 - 1
MAX_DEPTH = 64

BAD_TEXT = N_("This text contains a character that cannot be stored (a control character or a broken one); "
              "remove it and try again.")
ONE_LINE = N_("Line breaks are not allowed here.")
TOO_DEEP = N_("The data is nested too deeply.")

_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_LINE_BREAKS = re.compile("[\r\n]")


def text_fault(value: str, *, one_line: bool = False) -> str | None:
    """The message id saying what is wrong with ``value``, or ``None`` when it may be stored."""
    if _BAD_CHARS.search(value):
        return BAD_TEXT
    if one_line and _LINE_BREAKS.search(value):
        return ONE_LINE
    return None


def printable(value: str) -> str:
    """``value`` with every refused character replaced, safe to echo back (a field name)."""
    return _BAD_CHARS.sub("\ufffd", value)


def _walk(data: Any) -> Iterator[tuple[tuple[str, ...], Any, bool]]:
    """(path, value, is_key) for every string of a JSON-like structure, without recursion
    (so a deep document cannot exhaust the stack); a path deeper than MAX_DEPTH yields
    ``(path, TOO_DEEP, False)`` once."""
    stack: list[tuple[tuple[str, ...], Any]] = [((), data)]
    while stack:
        path, value = stack.pop()
        if len(path) > MAX_DEPTH:
            yield path[:MAX_DEPTH], TOO_DEEP, False
            return
        if isinstance(value, str):
            yield path, value, False
        elif isinstance(value, dict):
            for key, item in value.items():
                key = str(key)
                yield path + (key,), key, True
                stack.append((path + (key,), item))
        elif isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                stack.append((path + (str(index),), item))


def find_text_fault(data: Any) -> tuple[str, str] | None:
    """(field, message id) of the first refused string (or key) in ``data``, or ``None``.
    The field is the dotted path (``options.2``), printable."""
    for path, value, _ in _walk(data):
        if value is TOO_DEEP:
            return printable(".".join(path)) or "_schema", TOO_DEEP
        fault = text_fault(value)
        if fault is not None:
            return printable(".".join(path)) or "_schema", fault
    return None


def check_data(data: Any) -> None:
    """Raise a ``ValidationError`` naming the field when ``data`` holds refused text."""
    found = find_text_fault(data)
    if found is not None:
        raise ValidationError({found[0]: [Msg(found[1])]})


def check_request() -> None:
    """The request gate: the URL's parts and query (single lines), the form and the JSON
    body of every request, before any view, CSRF check or database lookup sees them."""
    errors: dict[str, list[Msg]] = {}

    def note(field: str, fault: str | None) -> None:
        if fault is not None:
            errors.setdefault(printable(field) or "_schema", []).append(Msg(fault))

    for name, value in (request.view_args or {}).items():
        if isinstance(value, str):
            note(name, text_fault(value, one_line=True))
    for name, value in request.args.items(multi=True):
        note(name, text_fault(name, one_line=True) or text_fault(value, one_line=True))
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            for name, value in request.form.items(multi=True):
                note(name, text_fault(name, one_line=True) or text_fault(value, one_line=name == "next"))
        elif request.is_json:
            data = request.get_json(silent=True)
            found = find_text_fault(data) if data is not None else None
            if found is not None:
                note(*found)
    if errors:
        raise ValidationError(errors)


class IdConverter(IntegerConverter):
    """``<int:…>`` bounded to what the database can hold: 0 .. 2^31-1 (a larger number
    is a 404, as for any id that names nothing)."""

    def __init__(self, map: Any, fixed_digits: int = 0, min: int | None = 0, max: int | None = INT_MAX,
                 signed: bool = False) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


class CourtyardJSON(DefaultJSONProvider):
    """The app's JSON: non-ASCII text as UTF-8; a body nested past the interpreter's
    stack is invalid JSON (400), not a RecursionError; a string that cannot be UTF-8
    (stored before the edge refused it) is escaped rather than failing the response."""

    ensure_ascii = False

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return json.loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        text = super().dumps(obj, **kwargs)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            kwargs["ensure_ascii"] = True
            return super().dumps(obj, **kwargs)
        return text


class CourtyardResponse(Response):
    """A page holding a string that cannot be UTF-8 (a lone surrogate stored before the
    edge refused it) shows a replacement character instead of failing for every visitor."""

    def set_data(self, value: bytes | str) -> None:
        if isinstance(value, str):
            value = value.encode("utf-8", "replace")
        super().set_data(value)


def init_app(app: Flask) -> None:
    """Install the converter, JSON provider and response class (before any blueprint
    is registered) and the request gate (before every other preprocessor)."""
    app.url_map.converters["int"] = IdConverter
    app.json_provider_class = CourtyardJSON
    app.json = CourtyardJSON(app)
    app.response_class = CourtyardResponse

    @app.url_value_preprocessor
    def _gate(endpoint: str | None, values: dict[str, Any] | None) -> None:
        check_request()

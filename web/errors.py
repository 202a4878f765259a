"""Every error becomes a clear, translated answer: JSON for the API, a page otherwise.
A domain error or a validation error never reaches the user as a 500."""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Flask, Response, flash, jsonify, redirect, render_template, request
from markupsafe import escape
from marshmallow import ValidationError
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import BadRequest, HTTPException

from core.errors import Conflict, DomainError
from core.i18n import N_
from web.db import get_db
from web.extensions import wants_json
from web.i18n import interpolate, translate, translate_errors
from web.redirects import safe_referrer

log = logging.getLogger("courtyard.web")

HTTP_MESSAGES = {
    400: N_("The request was not understood."),
    401: N_("Please sign in first."),
    403: N_("You are not allowed to do this."),
    404: N_("Not found."),
    405: N_("This action is not allowed here."),
    409: N_("This conflicts with the current state; reload and try again."),
    413: N_("This upload is too large."),
    415: N_("Send a JSON object."),
    422: N_("This value is not valid."),
    429: N_("Too many attempts; please wait a moment."),
    500: N_("Something went wrong on our side. Nothing was saved; please try again."),
    503: N_("The server is busy; please try again in a moment."),
}


def error_body(status: int, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"error": {"status": status, "message": message}}
    if fields:
        body["error"]["fields"] = fields
    return body


def _rollback() -> None:
    try:
        get_db().rollback()
    except Exception:  # the database itself is what failed: nothing of this request was committed
        log.warning("rollback after an error failed", exc_info=True)


def _tr(message: Any, params: dict[str, Any] | None = None) -> str:
    """Translate for an error answer; when translating itself fails (the locale is looked
    up through a session that is broken), the message id in English is still an answer."""
    try:
        return translate(message, params)
    except Exception:
        log.warning("translating an error message failed", exc_info=True)
        _rollback()
        return interpolate(str(message), params)


def _tr_errors(messages: Any) -> Any:
    try:
        return translate_errors(messages)
    except Exception:
        log.warning("translating field errors failed", exc_info=True)
        _rollback()
        return messages


def _plain(status: int, message: str, fields: dict[str, Any] | None):
    """The last resort: the error without templates, sessions or flashes."""
    if wants_json():
        return Response(json.dumps(error_body(status, message, fields), ensure_ascii=True), status=status,
                        mimetype="application/json")
    text = escape(message)
    return Response(f"<!doctype html><meta charset=utf-8><title>{status}</title><p>{text}</p>", status=status,
                    mimetype="text/html")


def _respond(status: int, message: str, fields: dict[str, Any] | None = None):
    _rollback()
    try:
        if wants_json():
            return jsonify(error_body(status, message, fields)), status
        back = safe_referrer() if request.method == "POST" and status in (400, 403, 409, 422) else None
        if back:
            flash(message, "error")
            for field, errors in (fields or {}).items():
                for error in errors if isinstance(errors, list) else [errors]:
                    flash(f"{field}: {error}", "error")
            return redirect(back)
        return render_template("error.html", status=status, message=message, fields=fields or {}), status
    except Exception:  # a template, a flash or the locale failed: still answer, never a bare 500
        log.exception("the error page failed for %s %s", request.method, request.path)
        _rollback()
        return _plain(status, message, fields)



def init_app(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain(exc: DomainError):
        _rollback()
        message = _tr(exc.message, exc.params)
        fields = {exc.field: [message]} if exc.field else None
        return _respond(exc.status, message, fields)

    @app.errorhandler(ValidationError)
    def _validation(exc: ValidationError):
        _rollback()
        fields = _tr_errors(exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages})
        return _respond(400, _tr(N_("Please check the highlighted fields.")), fields)

    @app.errorhandler(StaleDataError)
    def _stale(exc: StaleDataError):
        return _domain(Conflict(N_("Someone else changed this session; reload and try again."), field="version"))

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        _rollback()
        status = exc.code or 500
        if isinstance(exc, BadRequest) and (getattr(exc, "description", None) or "").startswith("The CSRF"):
            message = _tr(N_("This form has expired; reload the page and try again."))
        else:
            message = _tr(HTTP_MESSAGES.get(status, N_("The request was not understood.")))
        return _respond(status, message)

    @app.errorhandler(OperationalError)
    @app.errorhandler(PoolTimeout)
    def _busy(exc: Exception):
        """The database is unreachable or every connection is in use: nothing was
        committed; the client may try again (503 with ``Retry-After``), not a 500."""
        log.error("database unavailable on %s %s: %s", request.method, request.path, str(exc).splitlines()[0])
        _rollback()
        response = _respond(503, _tr(HTTP_MESSAGES[503]))  # 503 is never a redirect
        if isinstance(response, tuple):
            return response[0], response[1], {"Retry-After": "2"}
        response.headers["Retry-After"] = "2"
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unexpected error on %s %s", request.method, request.path)
        _rollback()
        return _respond(500, _tr(HTTP_MESSAGES[500]))

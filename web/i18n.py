"""Locales: which language a page is in, and translating messages that come from core
and from marshmallow."""

from __future__ import annotations

from typing import Any

from babel import Locale
from flask import Flask, g, request
from flask_babel import gettext
from flask_login import current_user
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from core.i18n import N_

LOCALES = ("zh_CN", "en")
LOCALE_NAMES = {"zh_CN": "中文", "en": "English"}
COOKIE = "lang"
LARGE_TEXT_COOKIE = "large_text"

# marshmallow's own messages, listed so they are extracted and translated
MARSHMALLOW_MESSAGES = (
    N_("Missing data for required field."),
    N_("Field may not be null."),
    N_("Unknown field."),
    N_("Invalid input type."),
    N_("Invalid value."),
    N_("Not a valid string."),
    N_("Not a valid integer."),
    N_("Not a valid number."),
    N_("Not a valid boolean."),
    N_("Not a valid datetime."),
    N_("Not a valid date."),
    N_("Not a valid list."),
    N_("Not a valid mapping type."),
    N_("Invalid data. Expected a dictionary, but got a list."),
    N_("Not a valid email address."),
    N_("Not a valid URL."),
    N_("Not a valid UUID."),
    N_("Shorter than minimum length {min}."),
    N_("Longer than maximum length {max}."),
    N_("Length must be between {min} and {max}."),
    N_("Must be greater than or equal to {min}."),
    N_("Must be less than or equal to {max}."),
    N_("Must be greater than or equal to {min} and less than or equal to {max}."),
    N_("Must be one of: {choices}."),
    N_("Invalid input."),
    N_("The request body is not valid JSON."),
    N_("Send a JSON object."),
)


class CatalogLocale(Locale):
    """Babel parses ``zh_CN`` as ``zh_Hans_CN``, and gettext would then look for a
    ``zh_Hans_CN`` catalogue. This locale keeps Babel's data but names itself by its
    catalogue directory, so ``web/translations/zh_CN`` is found."""

    catalog_name: str | None = None

    def __str__(self) -> str:
        return self.catalog_name or super().__str__()

    @classmethod
    def named(cls, catalog_name: str) -> "CatalogLocale":
        parsed = Locale.parse(catalog_name)
        obj = cls(parsed.language, territory=parsed.territory, script=parsed.script)
        obj.catalog_name = catalog_name
        return obj


_LOCALE_OBJECTS = {name: CatalogLocale.named(name) for name in ("zh_CN", "en")}


class Msg(str):
    """A message id with parameters, translated when shown (a ``str`` so marshmallow keeps it)."""

    def __new__(cls, msgid: str, **params: Any) -> "Msg":
        obj = super().__new__(cls, msgid.format(**params) if params else msgid)
        obj.msgid = msgid
        obj.params = params
        return obj


def translate(message: Any, params: dict[str, Any] | None = None) -> str:
    """Translate a message id from core (``%(name)s`` placeholders) or a :class:`Msg`."""
    if isinstance(message, Msg):
        return gettext(message.msgid).format(**message.params) if message.params else gettext(message.msgid)
    return interpolate(gettext(str(message)), params)


def interpolate(text: str, params: dict[str, Any] | None) -> str:
    """``text % params`` (core's ``%(name)s`` placeholders); the text as it is when the
    parameters do not fit it (a translation that dropped or renamed one)."""
    if params:
        try:
            return text % params
        except (KeyError, TypeError, ValueError):
            return text
    return text


def translate_errors(messages: Any) -> Any:
    """Translate every message of a marshmallow error structure, keeping its shape."""
    if isinstance(messages, dict):
        return {key: translate_errors(value) for key, value in messages.items()}
    if isinstance(messages, (list, tuple)):
        return [translate_errors(m) for m in messages]
    return translate(messages)


def select_locale() -> Locale:
    return _LOCALE_OBJECTS[select_locale_name()]


def select_locale_name() -> str:
    try:
        member = current_user if getattr(current_user, "is_authenticated", False) else None
    except (OperationalError, PoolTimeout):  # the database is what failed: answer in the browser's language
        member = None
    if member is not None and getattr(member, "locale", None) in LOCALES:
        return member.locale
    cookie = request.cookies.get(COOKIE)
    if cookie in LOCALES:
        return cookie
    asked = request.args.get("lang")
    if asked in LOCALES:
        return asked
    community = g.get("community")
    if community is not None and community.default_locale in LOCALES:
        return community.default_locale
    return "zh_CN"


def select_timezone() -> str:
    community = g.get("community")
    return community.timezone if community is not None else "Asia/Shanghai"


def large_text() -> bool:
    member = current_user if getattr(current_user, "is_authenticated", False) else None
    if member is not None and member.large_text:
        return True
    return request.cookies.get(LARGE_TEXT_COOKIE) == "1"


def init_app(app: Flask) -> None:
    from flask_babel import get_locale

    @app.context_processor
    def _i18n_context() -> dict[str, Any]:
        locale = str(get_locale())
        return {
            "locale": locale,
            "html_lang": "zh-CN" if locale == "zh_CN" else "en",
            "locales": LOCALE_NAMES,
            "large_text": large_text(),
            "tr": translate,
        }

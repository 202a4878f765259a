"""What every response carries for the browser's own defences, and what the app trusts of
the proxy in front (docs/operations.md "Behind a proxy", "Headers and cookies").

* **The proxy's forwarded address.** With ``COURTYARD_PROXY_HOPS=N`` (nginx alone: 1)
  werkzeug's ProxyFix takes the client's address and scheme from the last N entries of
  ``X-Forwarded-For`` / ``X-Forwarded-Proto``; with 0 (the default) those headers are
  ignored, so a client cannot choose its own address. ProxyFix wraps the whole WSGI app,
  Socket.IO included, so ``request.remote_addr`` is the client's in pages, the API and
  live connections alike (the join-code limiter keys on it).
* **Content-Security-Policy.** Pages carry no inline script and no ``style=``
  attribute: scripts and style sheets come from this site only. The one inline
  ``<style>`` a page may have (the colours of its category chips, :func:`color_class`)
  carries a per-request nonce. Live connections go to this site's own ws/wss address
  (and to ``COURTYARD_ALLOWED_ORIGINS``).
* **Cookies.** Every cookie is ``Secure`` when the request came over https (after
  ProxyFix, the browser's scheme) or when ``COURTYARD_SECURE_COOKIES`` is on; the
  session and remember-me cookies are HttpOnly and SameSite=Lax, and "stay signed in"
  lasts ``COURTYARD_REMEMBER_DAYS`` (30).
"""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from typing import Any

from flask import Flask, current_app, g, has_request_context, request
from markupsafe import Markup
from werkzeug.exceptions import SecurityError
from werkzeug.middleware.proxy_fix import ProxyFix

from web.inputs import CourtyardResponse as _TextSafeResponse

#: the same on every response, pages, API and errors alike (deploy/nginx sets them too,
#: for what nginx answers itself)
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}

_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")
_ORIGIN = re.compile(r"^(https?)://([A-Za-z0-9.\-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?)$")
_COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")


class CourtyardResponse(_TextSafeResponse):
    """Every cookie set over https (or with ``COURTYARD_SECURE_COOKIES``) is ``Secure``:
    the session cookie, Flask-Login's remember-me cookie and the preference cookies all
    pass through here. (A page holding a broken character still renders:
    :class:`web.inputs.CourtyardResponse`.)"""

    def set_cookie(self, key: str, value: str = "", *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        if not kwargs.get("secure") and not args and has_request_context() and (
                request.is_secure or current_app.config.get("SECURE_COOKIES")):
            kwargs["secure"] = True
        super().set_cookie(key, value, *args, **kwargs)


def csp_nonce() -> str:
    """This response's nonce for an inline ``<style>`` (made when first asked)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(18)
    return g.csp_nonce


def color_class(color: Any) -> str:
    """A class that gives an element the category colour ``color`` as ``--chip`` (in
    place of a ``style=`` attribute, which the policy refuses); ``""`` for anything that
    is not a hex colour. The rules are written by :func:`page_styles` at the end of the page."""
    if not isinstance(color, str) or not _COLOR.match(color):
        return ""
    name = f"c-{color[1:].lower()}"
    g.setdefault("page_colors", set()).add(name)
    return name


def page_styles() -> Markup:
    """The ``<style>`` block for the colours the page asked :func:`color_class` for."""
    names = sorted(g.get("page_colors", ()))
    if not names:
        return Markup("")
    rules = " ".join(f".{n} {{ --chip: #{n[2:]}; }}" for n in names)
    return Markup('<style nonce="{}">{}</style>').format(csp_nonce(), Markup(rules))


def _socket_sources(config: dict[str, Any]) -> list[str]:
    sources = []
    try:
        host = request.host
    except SecurityError:  # a Host outside TRUSTED_HOSTS (web/public_url.py): its 400 page needs none
        host = ""
    if _HOST.match(host):
        sources += [f"ws://{host}", f"wss://{host}"]
    for origin in config.get("ALLOWED_ORIGINS") or ():
        match = _ORIGIN.match(origin.strip())
        if match:
            ws = "wss" if match.group(1) == "https" else "ws"
            sources += [match.group(0), f"{ws}://{match.group(2)}"]
    return sources


def content_security_policy(config: dict[str, Any]) -> str:
    styles = ["'self'"] + ([f"'nonce-{g.csp_nonce}'"] if "csp_nonce" in g else [])
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": styles,
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'", *_socket_sources(config)],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


def holds_secret() -> None:
    """This response carries a secret (a one-time sign-in link, a calendar feed's link, a
    ballot's change code): ``Cache-Control: no-store``, so that no browser cache, back
    button or shared proxy keeps it for the next person at a shared computer."""
    g.holds_secret = True


def init_app(app: Flask) -> None:
    """Headers, cookies and the proxy. Call after the Socket.IO server is made, so that
    ProxyFix wraps it too."""
    app.response_class = CourtyardResponse
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_HTTPONLY=True, REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_DURATION=timedelta(days=int(app.config["REMEMBER_DAYS"])),
        SESSION_COOKIE_SECURE=bool(app.config["SECURE_COOKIES"]),
        REMEMBER_COOKIE_SECURE=bool(app.config["SECURE_COOKIES"]),
    )
    app.jinja_env.globals.update(color_class=color_class, page_styles=page_styles, csp_nonce=csp_nonce)

    @app.after_request
    def _headers(response: Response) -> Response:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if g.get("holds_secret"):
            response.headers["Cache-Control"] = "no-store"
        response.headers["Content-Security-Policy"] = content_security_policy(app.config)
        return response

    hops = int(app.config["PROXY_HOPS"])
    if hops > 0:
        # x_host stays 0: the shipped nginx passes the browser's Host header itself
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]

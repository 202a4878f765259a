"""Links that leave the page — sign-in cards, join links and their QR codes, calendar
feeds, the ``url`` fields of the API — point at the address residents use, never at the
``Host`` header of whoever asked.

Without ``COURTYARD_PUBLIC_URL`` (a laptop, the demo) a link is built from the request's
host, as Flask does. With it (every server others reach; ``docs/operations.md``, "The
public address"):

* every external link (``url_for(..., _external=True)``) is the public URL followed by
  the page's path, whatever ``Host`` the request named;
* a request naming any other host is refused with 400 (Flask's ``TRUSTED_HOSTS``): the
  public URL's host, loopback (monitoring asks the processes directly) and the hosts of
  ``COURTYARD_TRUSTED_HOSTS`` (comma separated; ``.example.org`` takes every subdomain).

Why: behind the shipped nginx (``proxy_set_header Host $http_host``) a request with a
forged ``Host`` reached the app, and a grid head's printed sign-in card, a session's QR
code or a calendar link could be made to point at another site, which then received the
one-time token.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Flask, request
from werkzeug.exceptions import SecurityError
from werkzeug.wrappers import Response
from werkzeug.wsgi import get_host

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


def public_base(value: str) -> str | None:
    """``https://host[:port][/prefix]`` without a trailing slash, or ``None`` when ``value``
    is not an http(s) URL with a host."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  (a port that is not a number raises here)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        return None
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def problems(config: Any) -> list[str]:
    value = config.get("PUBLIC_URL") or ""
    if value and public_base(value) is None:
        return [f"COURTYARD_PUBLIC_URL must be the http(s) address residents use, like https://yishi.example.org "
                f"(not {value!r})"]
    return []


class CourtyardFlask(Flask):
    """Flask whose external links start with the configured public URL."""

    def url_for(self, /, endpoint: str, *, _anchor: str | None = None, _method: str | None = None,
                _scheme: str | None = None, _external: bool | None = None, **values: Any) -> str:
        base = self.config.get("PUBLIC_BASE")
        if not base or not _external:
            return super().url_for(endpoint, _anchor=_anchor, _method=_method, _scheme=_scheme,
                                   _external=_external, **values)
        path = super().url_for(endpoint, _anchor=_anchor, _method=_method, _external=False, **values)
        root = request.script_root if request else ""
        if root and path.startswith(root + "/"):
            path = path[len(root):]  # the public URL carries the prefix nginx serves us under
        return base + path


class TrustedHosts:
    """WSGI middleware: a request naming a host not in ``hosts`` gets a plain 400 before
    the application sees it (Flask's own check leaves the request without a URL adapter,
    and the error page, which builds links, then fails)."""

    def __init__(self, app: Any, hosts: list[str]) -> None:
        self.app, self.hosts = app, hosts

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        try:
            get_host(environ, self.hosts)
        except SecurityError:
            response = Response("This server does not answer to that host name.\n", status=400,
                                mimetype="text/plain", headers={"X-Content-Type-Options": "nosniff"})
            return response(environ, start_response)
        return self.app(environ, start_response)


def init_app(app: Flask) -> None:
    base = public_base(app.config.get("PUBLIC_URL") or "")
    app.config["PUBLIC_BASE"] = base
    if base is None:
        return
    hosts = [urlsplit(base).hostname or "", *LOOPBACK_HOSTS]
    hosts += [h.strip() for h in str(app.config.get("TRUSTED_HOSTS_EXTRA") or "").split(",") if h.strip()]
    app.config["TRUSTED_HOSTS"] = hosts
    app.wsgi_app = TrustedHosts(app.wsgi_app, hosts)  # type: ignore[method-assign]

"""Where a redirect may go when the target comes from the request (``next``, the Referer).

Only a path on this site is taken. A browser reads a ``Location`` header with the WHATWG
URL parser, which removes every tab, CR and LF anywhere, strips leading control
characters and spaces, and reads a backslash as a slash: ``/\\t/evil.example`` and
``/\\\\evil.example`` both become ``//evil.example``, another site. So the target is
refused outright when it holds a control character (C0, DEL, C1) or a backslash, anything
but a single leading ``/``, a scheme or a host, also after the unicode compatibility
normalisation (``／／evil`` is ``//evil``) and after one round of percent-decoding
(``/%2F%2Fevil``). A refused target falls back to a page of ours; it never reaches a
header, so CR/LF cannot split one.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import unquote, urljoin, urlsplit

from flask import request, url_for

MAX_LENGTH = 2048


def _refused_character(ch: str) -> bool:
    if ch == "\\" or ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F:
        return True
    # format characters (bidi overrides, zero-width), surrogates, unassigned, line separators
    return unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")


def _on_site_path(target: str) -> bool:
    if not target.startswith("/") or target.startswith(("//", "/\\")):
        return False
    if any(_refused_character(ch) for ch in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


def is_safe_next(target: object) -> bool:
    """True when ``target`` is a path on this site that every browser reads as one."""
    if not isinstance(target, str) or not target or len(target) > MAX_LENGTH:
        return False
    variants = {target, unicodedata.normalize("NFKC", target)}
    variants |= {unquote(v) for v in variants}
    variants |= {unicodedata.normalize("NFKC", v) for v in variants}
    return all(_on_site_path(v) for v in variants)


def safe_next(target: object, default: str | None = None) -> str:
    """``target`` when it is a safe path on this site, else ``default`` (the home page)."""
    if is_safe_next(target):
        return target  # type: ignore[return-value]
    return default if default is not None else url_for("views.home")


def safe_referrer() -> str | None:
    """The page the request came from, as a path, when it is a page of this site."""
    referrer = request.referrer
    if not referrer or len(referrer) > MAX_LENGTH:
        return None
    parts = urlsplit(urljoin(request.host_url, referrer))
    # the host only: behind a proxy that does not say https the scheme may differ
    if parts.scheme not in ("http", "https") or parts.netloc != request.host:
        return None
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return path if is_safe_next(path) else None

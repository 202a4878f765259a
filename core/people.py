"""Pure helpers for people: phone numbers (E.164) and pinyin keys for search and sorting.

No database here: the services call these at write time, so search is a SQL ``LIKE``
over a stored column, and lists sort by a stored pinyin key.
"""

from __future__ import annotations

import re
from typing import Iterable

import phonenumbers
from pypinyin import Style, lazy_pinyin

#: the region a number without a country code belongs to
DEFAULT_REGION = "CN"
_SPACES = re.compile(r"\s+")


def normalise_phone(raw: str, region: str = DEFAULT_REGION) -> str | None:
    """``raw`` as E.164 ("+8613812345678"), or None when it is not a valid number
    (a digit missing, letters, a number of no country)."""
    text = raw.strip()
    if not text:
        return None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def mask_phone(phone: str | None) -> str:
    """A phone for people who may not read it: "138****1234" (national digits)."""
    if not phone:
        return ""
    digits = phone[3:] if phone.startswith("+86") else phone.lstrip("+")
    if len(digits) <= 7:
        return "*" * max(len(digits) - 4, 0) + digits[-4:]
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def _syllables(name: str) -> list[str]:
    # errors="default" keeps Latin letters and digits as they are ("Anna" stays "anna")
    return [s.lower() for s in lazy_pinyin(name, style=Style.NORMAL, errors="default") if s.strip()]


def name_pinyin(name: str) -> str:
    """The sort key of a name: toneless pinyin syllables, "张三" → "zhang san"."""
    return " ".join(_syllables(name))[:400]


def search_text(name: str, places: Iterable[str] = ()) -> str:
    """What a search matches, lower case, "|"-separated: the name, its pinyin run together
    ("zhangsan"), its initials ("zs") and the names of the member's places.
    Phone numbers are not in it (they are personal data; the tail is matched on the
    phone column)."""
    syllables = _syllables(name)
    parts = [name.lower(), "".join(syllables), "".join(s[0] for s in syllables if s)]
    parts += [p.lower() for p in places if p]
    return ("|" + "|".join(parts) + "|")[:1000]


def search_terms(query: str) -> tuple[str, str | None]:
    """A query as (the text to find in ``search_text``, a phone tail or None).
    "zhang san" → "zhangsan"; "张 三" → "张三"; "1234" is also a phone tail."""
    text = _SPACES.sub("", query.strip().lower()).replace("|", "")
    tail = text if text.isdigit() and 3 <= len(text) <= 11 else None
    return text, tail

"""Pure helpers for people: phone numbers (E.164) and pinyin keys for search and sorting.

No database here: the services call these at write time, so search is a SQL ``LIKE``
over a stored column, and lists sort by a stored pinyin key.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from typing import Iterable

import phonenumbers

# readings are looked up character by character (a name is not a phrase): pypinyin's
# phrase dictionary, 0.4 s to load, is not needed
os.environ.setdefault("PYPINYIN_NO_PHRASES", "true")
from pypinyin import Style, lazy_pinyin  # noqa: E402

#: the region a number without a country code belongs to
DEFAULT_REGION = "CN"
_SPACES = re.compile(r"\s+")


@lru_cache(maxsize=1)
def _cn_mobile() -> re.Pattern[str]:
    """libphonenumber's own pattern of valid Chinese mobile numbers (its metadata)."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region("CN")
    return re.compile(metadata.mobile.national_number_pattern)


def normalise_phone(raw: str, region: str = DEFAULT_REGION) -> str | None:
    """``raw`` as E.164 ("+8613812345678"), or None when it is not a valid number
    (a digit missing, letters, a number of no country)."""
    text = raw.strip()
    if not text:
        return None
    if region == "CN" and len(text) == 11 and text.isascii() and text.isdigit() and text[0] == "1":
        # the common case, a bare mobile number, checked against the same metadata that
        # phonenumbers.is_valid_number uses, without its general parser (10x faster)
        return "+86" + text if _cn_mobile().fullmatch(text) else None
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


@lru_cache(maxsize=50_000)
def _char_pinyin(char: str) -> str:
    return lazy_pinyin(char, style=Style.NORMAL)[0].lower()


def _is_han(char: str) -> bool:
    return "\u3400" <= char <= "\u9fff" or "\uf900" <= char <= "\ufaff" or "\U00020000" <= char <= "\U0003134f"


#: surnames read otherwise than the character's common reading (曾 zeng, not ceng)
SURNAME_READINGS = {"曾": "zeng", "单": "shan", "解": "xie", "仇": "qiu", "朴": "piao", "区": "ou", "查": "zha",
                    "盖": "ge", "乐": "yue", "覃": "qin", "翟": "zhai", "缪": "miao", "尉": "yu", "秘": "bi",
                    "种": "chong", "召": "shao", "繁": "po", "员": "yun", "黑": "he", "长": "chang", "重": "chong"}


@lru_cache(maxsize=50_000)
def _syllables(name: str) -> tuple[str, ...]:
    """Toneless pinyin of each Han character; a run of letters or digits is one
    "syllable" as written ("Anna" stays "anna"). Character by character: a name is not a
    phrase, and the per-character readings are cached (a roster of 10,000 names uses a
    few hundred characters)."""
    out: list[str] = []
    run = ""
    if name[:1] in SURNAME_READINGS:
        out.append(SURNAME_READINGS[name[0]])
        name = name[1:]
    for char in name:
        if _is_han(char):
            if run:
                out.append(run)
                run = ""
            out.append(_char_pinyin(char))
        elif char.isalnum():
            run += char.lower()
        elif run:
            out.append(run)
            run = ""
    if run:
        out.append(run)
    return tuple(out)


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

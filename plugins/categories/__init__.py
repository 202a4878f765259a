"""The five topic categories of the golden microphone forum (民声金话筒)."""

from __future__ import annotations

from core.plugins import hookimpl
from core.registry import Category

DEFAULT_CATEGORIES = (
    Category("livelihood", {"zh_CN": "民生", "en": "Livelihood"}, "#c2410c"),
    Category("finance", {"zh_CN": "金融", "en": "Finance"}, "#a16207"),
    Category("healthcare", {"zh_CN": "医疗", "en": "Healthcare"}, "#be123c"),
    Category("environment", {"zh_CN": "环保", "en": "Environment"}, "#15803d"),
    Category("culture", {"zh_CN": "文化", "en": "Culture"}, "#1d4ed8"),
)


@hookimpl
def courtyard_register_categories(register):
    for category in DEFAULT_CATEGORIES:
        register(category)

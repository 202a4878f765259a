"""The four session formats of the source practices."""

from __future__ import annotations

from core.plugins import hookimpl
from core.registry import SessionFormat

COURTYARD_TALK = SessionFormat(
    key="courtyard_talk",
    names={"zh_CN": "海棠小院茶话会", "en": "Courtyard tea talk"},
    descriptions={
        "zh_CN": "几位邻居围坐在一户居民家中，就一个话题喝茶议事；院长轮流担任，会场随之移到他家。",
        "en": "A handful of neighbours around one resident's stove talk through one topic; "
              "the host rotates and the meeting moves to their home.",
    },
    default_capacity=12,
    rotating_host=True,
)
GOLDEN_MICROPHONE = SessionFormat(
    key="golden_microphone",
    names={"zh_CN": "民声金话筒", "en": "Golden microphone forum"},
    descriptions={
        "zh_CN": "居民反映的问题按议题分类，职能部门和单位到场，面对面回应。网格吹哨，部门报到。",
        "en": "Residents' problems, sorted by topic, put face to face with the departments "
              "and companies that must answer them.",
    },
    default_capacity=80,
    departments_at_table=True,
)
ASSEMBLY = SessionFormat(
    key="representative_assembly",
    names={"zh_CN": "居民代表会议", "en": "Representative assembly"},
    descriptions={
        "zh_CN": "选举产生的居民代表开会，按法定人数正式表决。",
        "en": "Elected resident representatives meet and take formal votes with a quorum.",
    },
    default_capacity=60,
    formal_votes=True,
)
REVIEW = SessionFormat(
    key="review_meeting",
    names={"zh_CN": "通报会", "en": "Review meeting"},
    descriptions={
        "zh_CN": "每月例会、每季度通报会：回顾未办结和已办结的事项，由居民评议落实成效。",
        "en": "Monthly and quarterly follow-up: open and resolved items are reviewed and "
              "residents rate how well they were carried out.",
    },
    default_capacity=60,
    review=True,
)

FORMATS = (COURTYARD_TALK, GOLDEN_MICROPHONE, ASSEMBLY, REVIEW)


@hookimpl
def courtyard_register_formats(register):
    for fmt in FORMATS:
        register(fmt)

"""Marking strings for translation without importing Flask.

``N_`` returns its argument unchanged; the extractor (``babel.cfg``) collects every
``N_("...")`` so the message lands in the catalogues, and the web layer translates the
message id when it shows it. Domain errors carry such ids plus named parameters.
"""

from __future__ import annotations


def N_(message: str) -> str:
    """Mark ``message`` for extraction; translated later, at the edge."""
    return message

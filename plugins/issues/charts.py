"""Server-drawn SVG bar charts: no JavaScript, readable on an old phone, printable.
Every bar carries its figure as text, the same figure the table beside it shows."""

from __future__ import annotations

from typing import Sequence

from markupsafe import Markup, escape

ROW = 34
LABEL_W = 150
BAR_W = 190
VALUE_W = 70


def bar_chart(title: str, rows: Sequence[tuple[str, float | None, str]], *, color: str = "#b91c1c",
              max_value: float | None = None) -> Markup:
    """``rows``: (label, value or None, text shown for the value). ``None`` draws no bar."""
    width = LABEL_W + BAR_W + VALUE_W
    height = 30 + ROW * max(len(rows), 1)
    top = max_value if max_value is not None else max((v for _, v, _ in rows if v is not None), default=0) or 1
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
             f'width="100%" role="img" aria-label="{escape(title)}">',
             f'<title>{escape(title)}</title>',
             f'<text x="0" y="18" font-size="14" font-weight="600" fill="#111827">{escape(title)}</text>']
    for i, (label, value, text) in enumerate(rows):
        y = 30 + i * ROW
        short = label if len(label) <= 12 else label[:11] + "…"
        parts.append(f'<text x="0" y="{y + 21}" font-size="13" fill="#374151">{escape(short)}</text>')
        if value is not None and top > 0:
            w = max(2.0, BAR_W * min(value, top) / top) if value > 0 else 0
            parts.append(f'<rect x="{LABEL_W}" y="{y + 6}" width="{w:.1f}" height="20" rx="3" fill="{escape(color)}"/>')
        parts.append(f'<text x="{LABEL_W + BAR_W + 6}" y="{y + 21}" font-size="13" fill="#111827" '
                     f'class="figure">{escape(text)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))

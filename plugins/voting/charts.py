"""Results as figures: one row per option with the number the method decides by, drawn as
an SVG bar chart on the server (no JavaScript; readable on an old phone, printable) and
shown as the same figures in a table for screen readers."""

from __future__ import annotations

from typing import Any, Callable, Sequence

from markupsafe import Markup, escape

from core.i18n import N_

ROW = 38
LABEL_W = 160
BAR_W = 200
VALUE_W = 80


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return str(value)


def figures(motion: Any, result: dict[str, Any], *, label: Callable[[str], str] = str) -> dict[str, Any]:
    """``{"measure": message id, "rows": [(label, value, text)], "options": [option]}`` —
    the figure the method decides by, per option, in ballot-paper order."""
    options = list(motion.options)
    measure, values = N_("Votes"), None
    if isinstance(result.get("counts"), dict):
        values = result["counts"]
        if result.get("method") == "approval":
            measure = N_("Approvals")
    elif result.get("rounds"):
        values = result["rounds"][0]["counts"]
        measure = N_("First preferences")
    elif isinstance(result.get("scores"), dict):
        values, measure = result["scores"], N_("Points")
    elif isinstance(result.get("totals"), dict):
        values, measure = result["totals"], N_("Total score")
    elif isinstance(result.get("averages"), dict):
        values, measure = result["averages"], N_("Average rating")
    elif isinstance(result.get("pairwise"), list):
        order = result.get("options", options)
        d = result["pairwise"]
        values = {a: sum(1 for j in range(len(order)) if j != i and d[i][j] > d[j][i]) for i, a in enumerate(order)}
        measure = N_("Options beaten head to head")
    else:  # a community plugin's method: the first mapping of numbers keyed by option
        for key, value in result.items():
            if isinstance(value, dict) and value and set(value) <= set(options):
                values, measure = value, key
                break
    values = values or {}
    keys = [o for o in options if o in values] + [o for o in values if o not in options]
    rows = [(label(o), values.get(o), _fmt(values.get(o)) if values.get(o) is not None else "–") for o in keys]
    return {"measure": measure, "rows": rows, "options": keys}


def bar_chart(title: str, rows: Sequence[tuple[str, float | None, str]], *, color: str = "#1d4ed8") -> Markup:
    """``rows``: (label, value or None, text shown). Every bar carries its figure as text."""
    width = LABEL_W + BAR_W + VALUE_W
    height = 34 + ROW * max(len(rows), 1)
    top = max((v for _, v, _ in rows if isinstance(v, (int, float))), default=0) or 1
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
             f'width="100%" role="img" aria-label="{escape(title)}">',
             f"<title>{escape(title)}</title>",
             f'<text x="0" y="18" font-size="14" font-weight="600" fill="#111827">{escape(title)}</text>']
    for i, (label, value, text) in enumerate(rows):
        y = 34 + i * ROW
        short = label if len(label) <= 12 else label[:11] + "…"
        parts.append(f'<text x="0" y="{y + 22}" font-size="14" fill="#374151">{escape(short)}</text>')
        if isinstance(value, (int, float)) and value > 0:
            w = max(2.0, BAR_W * min(value, top) / top)
            parts.append(f'<rect class="bar" data-value="{escape(text)}" x="{LABEL_W}" y="{y + 6}" width="{w:.1f}" '
                         f'height="22" rx="3" fill="{escape(color)}"/>')
        parts.append(f'<text x="{LABEL_W + BAR_W + 6}" y="{y + 22}" font-size="14" fill="#111827" '
                     f'class="figure">{escape(text)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))

"""`attsms report --html FILE`: one self-contained page, the report's sections as tables and
SVG bar charts.

Inline CSS and SVG only: no script, no font, no style from the network, so the page works
offline, as an e-mail attachment and printed. The charts are written here rather than by a
chart library: each is a handful of bars, and the libraries that render SVG offline (pygal)
reference a script from the network by default and need it for their labels. Every figure comes
from `report_view.sections`, the rows the terminal shows.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

from attsms.cli.report_view import heading, sections

if TYPE_CHECKING:
    from attsms.cli.report_view import Section

_STYLE = """
body{font:15px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:52rem;
padding:1rem;color:#1b1f24;background:#fff}
h1{font-size:1.3rem}h2{font-size:1.1rem;margin:1.6rem 0 .4rem;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{text-align:left;padding:.2rem .5rem .2rem 0;vertical-align:top;border-bottom:1px solid #eee}
td.n{text-align:right;white-space:nowrap}
.note{color:#57606a;font-size:.85rem;margin:.3rem 0}
svg.chart{display:block;width:100%;height:auto;margin:.5rem 0}
svg.chart text{font:12px system-ui,sans-serif;fill:#1b1f24}
svg.chart rect{fill:#0969da}
@media print{body{max-width:none}h2{break-after:avoid}section{break-inside:avoid}}
@media (max-width:30rem){body{font-size:14px;padding:.5rem}}
"""

_CHART_WIDTH = 600
_ROW_HEIGHT = 22
_LABEL_WIDTH = 230


def page(doc: dict[str, Any]) -> str:
    """The whole page: a heading, then each section with its chart and table."""
    title = escape(heading(doc))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{title}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{title}</h1>",
    ]
    for section in sections(doc):
        parts.append(_section(section))
    if len(parts) == 5:
        parts.append('<p class="note">Nothing was sent in what was asked about.</p>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _section(section: Section) -> str:
    out = [f'<section id="{section.slug}"><h2>{escape(section.title)}</h2>']
    if any(section.bars):
        out.append(_chart(section))
    out.append("<table>")
    if any(section.headers):
        heads = "".join(f"<th>{escape(h)}</th>" for h in section.headers)
        out.append(f"<thead><tr>{heads}</tr></thead>")
    out.append("<tbody>")
    for row in section.rows:
        cells = []
        for i, cell in enumerate(row):
            key = f' data-key="{escape(cell.key)}"' if cell.key else ""
            kind = ' class="n"' if cell.key and i else ""
            cells.append(f"<td{kind}{key}>{escape(cell.text)}</td>")
        out.append(f"<tr>{''.join(cells)}</tr>")
    out.append("</tbody></table>")
    if section.note:
        out.append(f'<p class="note">{escape(section.note)}</p>')
    out.append("</section>")
    return "\n".join(out)


def _chart(section: Section) -> str:
    """A horizontal bar a row (the rows with a count), labelled with the row and its count."""
    rows = [(row, n) for row, n in zip(section.rows, section.bars, strict=True) if n]
    top = max(n for _, n in rows)
    height = len(rows) * _ROW_HEIGHT + 4
    room = _CHART_WIDTH - _LABEL_WIDTH - 60
    out = [
        f'<svg class="chart" role="img" aria-label="{escape(section.title)}" '
        f'xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_CHART_WIDTH} {height}" '
        f'width="{_CHART_WIDTH}" height="{height}">'
    ]
    for i, (row, n) in enumerate(rows):
        y = i * _ROW_HEIGHT + 2
        width = max(1.0, n / top * room)
        label = escape(row[0].text)
        out.append(
            f'<text x="0" y="{y + 15}">{label}</text>'
            f'<rect x="{_LABEL_WIDTH}" y="{y + 3}" width="{width:.1f}" height="{_ROW_HEIGHT - 6}">'
            f"<title>{label}: {n}</title></rect>"
            f'<text x="{_LABEL_WIDTH + width + 6:.1f}" y="{y + 15}">{n}</text>'
        )
    out.append("</svg>")
    return "".join(out)

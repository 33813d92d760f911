"""How `attsms report` looks: its sections as rows of text, for the terminal, a pipe and a page.

Every renderer reads the same `sections(document)`, built from the `--json` document alone: the
terminal, the piped lines and the HTML page (`report_html.py`) cannot show other figures than
`--json` has. A cell that holds a figure carries its place in the document (`funnel.accepted.
count`), which the page writes as `data-key` and the tests compare.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

BAR_WIDTH = 20
_BLOCKS = " ▏▎▍▌▋▊▉█"


@dataclass(frozen=True)
class Cell:
    text: str
    key: str | None = None  # the figure's place in the --json document


@dataclass(frozen=True)
class Section:
    slug: str
    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    bars: tuple[int, ...] = ()  # per row, the count its bar shows (empty: no chart)
    note: str | None = None


def percent(share: float) -> str:
    return f"{share * 100:.1f}%"


def seconds(value: float) -> str:
    return f"{value:g} s"


_FUNNEL_LABELS = {
    "recipients": "recipients",
    "skipped": "skipped",
    "opted-out": "of which opted out (texted STOP)",
    "deferred": "of which deferred by quiet hours",
    "failed": "refused by the service",
    "unknown": "outcome unknown",
    "accepted": "accepted",
    "DeliveredToTerminal": "DeliveredToTerminal",
    "DeliveredToNetwork": "DeliveredToNetwork",
    "DeliveryImpossible": "DeliveryImpossible",
    "MessageWaiting": "MessageWaiting (pending)",
    "DeliveryUncertain": "DeliveryUncertain (pending)",
    "not-checked": "not checked yet",
}


def sections(doc: dict[str, Any]) -> list[Section]:
    """The report's sections, each only where it has data."""
    found = [
        _funnel(doc),
        _failures(doc),
        _latency(doc),
        _timeline(doc),
        _replies(doc),
        _compliance(doc),
        _cost(doc),
    ]
    return [s for s in found if s is not None]


def _funnel(doc: dict[str, Any]) -> Section | None:
    funnel = doc["funnel"]
    if not funnel["recipients"]["count"]:
        return None
    rows, bars = [], []
    for name, figure in funnel.items():
        if figure["count"] or name == "recipients":
            rows.append(
                (
                    Cell(_FUNNEL_LABELS.get(name, name)),
                    Cell(str(figure["count"]), f"funnel.{name}.count"),
                    Cell(percent(figure["share"]), f"funnel.{name}.share"),
                )
            )
            bars.append(figure["count"])
    return Section("funnel", "Funnel", ("", "count", "share"), tuple(rows), tuple(bars))


def _failures(doc: dict[str, Any]) -> Section | None:
    if not doc["failures"]:
        return None
    rows = tuple(
        (
            Cell(f["reason"], f"failures.{i}.reason"),
            Cell(str(f["count"]), f"failures.{i}.count"),
            Cell(f["words"]),
            Cell(f["hint"] or ""),
        )
        for i, f in enumerate(doc["failures"])
    )
    headers = ("reason", "count", "the service's words", "what to do")
    return Section("failures", "Failures by reason", headers, rows)


def _latency(doc: dict[str, Any]) -> Section | None:
    latency = doc["latency"]
    if latency is None:
        return None
    rows = [
        (Cell(name), Cell(seconds(latency[name]), f"latency.{name}"))
        for name in ("p50", "p90", "p99", "max")
    ]
    bars = [0, 0, 0, 0]
    for i, entry in enumerate(latency["histogram"]):
        rows.append((Cell(entry["bin"]), Cell(str(entry["count"]), f"latency.histogram.{i}.count")))
        bars.append(entry["count"])
    note = (
        f"{latency['count']} final statuses; times are upper bounds: from the send to when attsms"
        " recorded the status (some were polled)"
        if latency["upper_bound"]
        else f"{latency['count']} final statuses, each from a receipt pushed to `attsms listen`"
    )
    return Section(
        "latency", "Time to delivery", ("", "time / recipients"), tuple(rows), tuple(bars), note
    )


def _timeline(doc: dict[str, Any]) -> Section | None:
    timeline = doc["timeline"]
    if timeline is None:
        return None
    rows = tuple(
        (
            Cell(entry["start"]),
            Cell(str(entry["sent"]), f"timeline.bins.{i}.sent"),
            Cell(str(entry["reached"]), f"timeline.bins.{i}.reached"),
        )
        for i, entry in enumerate(timeline["bins"])
    )
    bars = tuple(entry["sent"] + entry["reached"] for entry in timeline["bins"])
    note = f"every {seconds(timeline['interval_seconds'])}, UTC"
    headers = ("from", "requests", "final statuses")
    return Section("timeline", "Timeline", headers, rows, bars, note)


def _replies(doc: dict[str, Any]) -> Section | None:
    replies = doc["replies"]
    if not replies["messages"]:
        return None
    rows = [
        (Cell("messages"), Cell(str(replies["messages"]), "replies.messages")),
        (Cell("people who replied"), Cell(str(replies["repliers"]), "replies.repliers")),
        (Cell("said STOP"), Cell(str(replies["stops"]), "replies.stops")),
        (Cell("opt-out rate"), Cell(percent(replies["opt_out_rate"]), "replies.opt_out_rate")),
    ]
    for first in replies["first"]:
        rows.append((Cell(f"{first['at']} {first['from']}"), Cell(first["text"])))
    window = doc["selection"]["reply_window_hours"]
    note = f"inbound messages from the recipients within {window:g} h of their send"
    return Section("replies", "Replies after the send", ("", ""), tuple(rows), (), note)


def _compliance(doc: dict[str, Any]) -> Section | None:
    if not doc["funnel"]["recipients"]["count"]:
        return None
    compliance = doc["compliance"]
    count = compliance["sent_after_opt_out"]
    rows = [
        (Cell("sent after an opt-out"), Cell(str(count), "compliance.sent_after_opt_out")),
        (
            Cell("held by quiet hours"),
            Cell(str(compliance["held_by_quiet_hours"]), "compliance.held_by_quiet_hours"),
        ),
    ]
    for entry in compliance["listed"]:
        rows.append(
            (Cell(entry["to"]), Cell(f"sent {entry['sent_at']}, opted out {entry['opted_out_at']}"))
        )
    note = "expected 0" if not count else "texts sent to numbers that had opted out"
    return Section("compliance", "Compliance", ("", ""), tuple(rows), (), note)


def _cost(doc: dict[str, Any]) -> Section | None:
    cost = doc["cost"]
    if not cost["texts"]:
        return None
    rows = [
        (Cell("texts accepted"), Cell(str(cost["texts"]), "cost.texts")),
        (Cell("segments billed"), Cell(str(cost["segments_billed"]), "cost.segments_billed")),
    ]
    for encoding, n in cost["encodings"].items():
        rows.append((Cell(f"texts in {encoding}"), Cell(str(n), f"cost.encodings.{encoding}")))
    for segments, n in cost["segments_per_text"].items():
        label = f"texts of {segments} segment{'s' if str(segments) != '1' else ''}"
        rows.append((Cell(label), Cell(str(n), f"cost.segments_per_text.{segments}")))
    return Section("cost", "Cost", ("", ""), tuple(rows))


def bar(count: int, top: int, width: int = BAR_WIDTH) -> str:
    """`count` of `top` as Unicode blocks, to the eighth of a character."""
    if top <= 0 or count <= 0:
        return ""
    eighths = max(1, round(count / top * width * 8))
    return "█" * (eighths // 8) + (_BLOCKS[eighths % 8] if eighths % 8 else "")


def render_terminal(doc: dict[str, Any], console: Console) -> None:
    """Rich tables, a bar chart beside the counts; fits 80 columns."""
    from rich.table import Table
    from rich.text import Text

    console.print(Text(_heading(doc), style="bold"))
    for section in sections(doc):
        table = Table(
            title=section.title,
            title_justify="left",
            title_style="bold",
            box=None,
            pad_edge=False,
            show_header=any(section.headers),
        )
        for i, header in enumerate(section.headers):
            figures = i and all(len(row) > i and row[i].key for row in section.rows)
            table.add_column(header, overflow="fold", justify="right" if figures else "left")
        top = max(section.bars, default=0)
        if top:
            table.add_column("", no_wrap=True)
        for i, row in enumerate(section.rows):
            cells: list[Any] = [Text(c.text) for c in row]
            if top:
                cells.append(Text(bar(section.bars[i], top), style="cyan"))
            table.add_row(*cells)
        console.print()
        console.print(table)
        if section.note:
            console.print(Text(section.note, style="dim"))


def plain_lines(doc: dict[str, Any]) -> list[str]:
    """Piped: one tab-separated line a row, `SECTION  LABEL  FIGURES…`."""
    lines = []
    for section in sections(doc):
        for row in section.rows:
            cells = [" ".join(c.text.split()) for c in row]
            lines.append("\t".join([section.slug, *cells]).rstrip("\t"))
    return lines


def _heading(doc: dict[str, Any]) -> str:
    selection = doc["selection"]
    if selection["key"]:
        what = f"job {selection['key']}"
    elif selection["message_ids"]:
        what = ", ".join(selection["message_ids"])
    else:
        what = "sends"
    span = f"{doc['first_sent']} – {doc['last_sent']}" if doc["first_sent"] else "nothing sent"
    return f"Report: {what}, {doc['batches']} requests, {span}"


def heading(doc: dict[str, Any]) -> str:
    return _heading(doc)

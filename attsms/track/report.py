"""`attsms report`: how a send went, in numbers, from the history, the inbox and consent.

One pass over the recipients of the batches asked about (a job's attempts that count, some
message IDs, or a time window), a few hundred batches a read: the figures are counters, so a
million recipients take no more memory than a thousand. What is held grows only with what is
small by nature: the batch ids (one int per 50 recipients), the distinct delivery times (to a
tenth of a second), the seconds of the timeline, the opt-outs and the replies in the window.

Nothing here prints: `compute_report` returns a `Report`, which `as_json` turns into the
`--json` document every renderer reads its figures from.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from attsms.api.faults import UNKNOWN_HINT, hint_for
from attsms.core.errors import UsageError
from attsms.core.models import FINAL_STATUSES
from attsms.core.segments import analyze
from attsms.store import existing_inbox, opt_outs
from attsms.store import read_history as open_read_only
from attsms.store.consent import timestamp_of
from attsms.store.history import ACCEPTED, FAILED
from attsms.store.sends import SEND_ID_LENGTH, SendRef
from attsms.store.statuses import RECEIPT

if TYPE_CHECKING:
    from attsms.auth.session import Session
    from attsms.core.models import SenderIdentity
    from attsms.store import StoreSettings
    from attsms.store.history import HistoryStore, SentBatch

DEFAULT_REPLY_WINDOW = 72 * 3600.0
REPLIES_SHOWN = 5
COMPLIANCE_LISTED = 20

# The funnel's rows, in order: attsms's outcome names, then the service's status names.
STATUSES = (
    "DeliveredToTerminal",
    "DeliveredToNetwork",
    "DeliveryImpossible",
    "MessageWaiting",
    "DeliveryUncertain",
)
NOT_CHECKED = "not-checked"  # accepted, and nobody asked the service since
# "skipped": recipients the selection's runs left out, of which "opted-out" and "deferred" (held
# by quiet hours) as the runs noted them; for a keyed job also those no run got to.
FUNNEL = (
    "recipients",
    "skipped",
    "opted-out",
    "deferred",
    "failed",
    "unknown",
    "accepted",
    *STATUSES,
    NOT_CHECKED,
)
PENDING = ("MessageWaiting", "DeliveryUncertain", NOT_CHECKED)

# Histogram edges of the time to delivery, seconds; the last bin is "and above".
_EDGES = (0, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 6 * 3600, 24 * 3600)
# Timeline intervals, seconds: the smallest that keeps the span within _MAX_BINS.
_INTERVALS = (1, 5, 10, 30, 60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 86400)
_MAX_BINS = 40
_CODE = re.compile(r"\b((?:SVC|POL)\d{4})\b")
_HTTP = re.compile(r"\bHTTP (\d{3})\b")


@dataclass(frozen=True)
class Selection:
    """What to report on: a keyed job, message IDs, or sends in [since, until)."""

    key: str | None = None
    message_ids: tuple[str, ...] = ()
    run_id: str | None = None  # one send (`attsms.store.sends`): the batches of this run
    since: datetime | None = None
    until: datetime | None = None
    reply_window: float = DEFAULT_REPLY_WINDOW


@dataclass(frozen=True)
class Failure:
    reason: str  # the service's code (SVC0002), HTTP status, or final status
    count: int  # recipients
    words: str  # the service's own words (the first seen)
    hint: str | None


@dataclass(frozen=True)
class Latency:
    count: int
    p50: float
    p90: float
    p99: float
    max: float
    histogram: tuple[tuple[str, int], ...]
    # True when any time is from a poll (when attsms recorded the status: at or after it was
    # reached), False when every one came from a receipt pushed to `listen` as it happened.
    upper_bound: bool = True


@dataclass(frozen=True)
class Timeline:
    interval: int  # seconds
    bins: tuple[tuple[datetime, int, int], ...]  # start, requests sent, final statuses reached


@dataclass(frozen=True)
class Reply:
    sender: str  # wire form
    at: datetime
    text: str
    stop: bool


@dataclass(frozen=True)
class Report:
    selection: Selection
    batches: int
    first_sent: datetime | None
    last_sent: datetime | None
    funnel: dict[str, int]
    failures: tuple[Failure, ...]
    latency: Latency | None
    timeline: Timeline | None
    replies: tuple[int, int, int, tuple[Reply, ...]]  # messages, repliers, said STOP, first few
    after_opt_out: tuple[int, tuple[tuple[str, datetime, datetime], ...]]  # count, listed
    cost: dict[str, Any]
    refreshed: int = 0  # messages whose status `--refresh` asked the service about

    @property
    def empty(self) -> bool:
        return self.batches == 0


@dataclass
class _Tally:
    """The counters one pass over the recipients fills."""

    funnel: Counter[str] = field(default_factory=Counter)
    failures: dict[str, list[Any]] = field(default_factory=dict)  # reason: [count, words, hint]
    latency: Counter[int] = field(default_factory=Counter)  # tenths of a second: recipients
    latency_max: float = 0.0
    sent: Counter[int] = field(default_factory=Counter)  # epoch second: requests
    reached: Counter[int] = field(default_factory=Counter)  # epoch second: final statuses
    batches: int = 0
    first: float | None = None
    last: float | None = None
    repliers: set[str] = field(default_factory=set)
    stoppers: set[str] = field(default_factory=set)
    violations: int = 0
    listed: list[tuple[str, datetime, datetime]] = field(default_factory=list)
    encodings: Counter[str] = field(default_factory=Counter)  # encoding: recipients
    segments: Counter[int] = field(default_factory=Counter)  # segments a text: recipients
    billed: int = 0
    polled: int = 0  # final statuses known from a poll, not a pushed receipt

    def fail(self, reason: str, count: int, words: str, hint: str | None) -> None:
        entry = self.failures.setdefault(reason, [0, words, hint])
        entry[0] += count


def compute_report(
    stores: StoreSettings,
    profile: str,
    identity: SenderIdentity,
    selection: Selection,
    *,
    refreshed: int = 0,
) -> Report:
    """The report of `selection` from the local stores; no network."""
    store = open_read_only(stores)
    if store is None:
        _no_job(selection.key)
        return _report(selection, _Tally(), {}, refreshed)
    with store:
        ids = _batch_ids(store, profile, selection)
        job_size = store.job_recipient_count(profile, selection.key) if selection.key else None
        if not ids and job_size is None:  # a job whose every recipient was held has no batch
            _no_job(selection.key)
        window = _window(store, ids, selection.reply_window)
        replies = _Replies(stores, profile, window)
        opted = _opt_out_times(stores, identity)
        tally = _Tally()
        for batch, people in store.report_rows(ids):
            _count_batch(tally, batch, people, replies, opted, selection.reply_window)
        skips = store.skip_counts(profile, ids, selection.key, _skip_window(selection))
    _count_skips(tally, skips, job_size)
    report = _report(selection, tally, replies.counts(), refreshed)
    return report


def _batch_ids(store: HistoryStore, profile: str, selection: Selection) -> list[int]:
    """The batches the report counts: one send's (`run_id`), or `report_batch_ids`'."""
    if selection.run_id is not None:
        return store.send_batch_ids(profile, SendRef(selection.run_id))
    return store.report_batch_ids(
        profile,
        key=selection.key,
        message_ids=selection.message_ids,
        since=selection.since,
        until=selection.until,
    )


def _skip_window(selection: Selection) -> tuple[float | None, float | None] | None:
    """A time window's skips are those noted in it; message IDs' are those of their runs."""
    if selection.message_ids or (selection.since is None and selection.until is None):
        return None
    since, until = selection.since, selection.until
    return (
        None if since is None else since.timestamp(),
        None if until is None else until.timestamp(),
    )


def _count_skips(tally: _Tally, skips: dict[str, int], job_size: int | None) -> None:
    """The recipients left out, by the reason the runs noted; a keyed job's size beyond what was
    recorded and noted is left out too (no run got to it)."""
    recorded = tally.funnel["recipients"]
    tally.funnel["opted-out"] = skips.get("opted-out", 0)
    tally.funnel["deferred"] = skips.get("deferred", 0)
    skipped = tally.funnel["opted-out"] + tally.funnel["deferred"]
    if job_size is not None:
        skipped = max(skipped, job_size - recorded)
    tally.funnel["skipped"] = skipped
    tally.funnel["recipients"] = recorded + skipped


def _no_job(key: str | None) -> None:
    if key is not None:
        raise UsageError(
            f"no send with the dedupe key {key!r} in this profile's history",
            hint="`attsms history --json` shows each send's dedupe_key",
        )


def _window(store: HistoryStore, ids: Sequence[int], reply_window: float) -> tuple[float, float]:
    """From the first send to the last send and the reply window: the inbox read for replies."""
    if not ids:
        return (0.0, 0.0)
    ends = [b.created_at.timestamp() for b, _ in store.report_rows([ids[0], ids[-1]])]
    return (min(ends), max(ends) + reply_window)


class _Replies:
    """The inbox's messages in the window, by sender: small next to the recipients."""

    def __init__(self, stores: StoreSettings, profile: str, window: tuple[float, float]) -> None:
        self.by_sender: dict[str, list[tuple[float, str, bool]]] = {}
        self.messages: set[tuple[str, float, str, bool]] = set()
        if window == (0.0, 0.0):
            return
        inbox = existing_inbox(stores, profile, read_only=True)
        if inbox is None:
            return
        with inbox:
            for message in inbox.iter_messages(since=window[0], by_time=True):
                at = timestamp_of(message.received_at)
                if at > window[1]:
                    break
                entry = (at, message.text, message.keyword == "stop")
                self.by_sender.setdefault(message.sender, []).append(entry)

    def after(self, address: str, sent: float, window: float) -> list[tuple[float, str, bool]]:
        found = [m for m in self.by_sender.get(address, ()) if sent <= m[0] <= sent + window]
        for at, text, stop in found:
            self.messages.add((address, at, text, stop))
        return found

    def counts(self) -> dict[str, Any]:
        first = sorted(self.messages, key=lambda m: (m[1], m[0]))[:REPLIES_SHOWN]
        shown = tuple(Reply(a, _at(t), text, stop) for a, t, text, stop in first)
        return {"messages": len(self.messages), "shown": shown}


def _opt_out_times(stores: StoreSettings, identity: SenderIdentity) -> dict[str, float]:
    """Each opted-out address and when its opt-out was recorded (epoch)."""
    return {row.address: timestamp_of(row.since) for row in opt_outs(stores, identity)}


def _count_batch(
    tally: _Tally,
    batch: SentBatch,
    people: list[tuple[str, str | None, float | None, str | None]],
    replies: _Replies,
    opted: dict[str, float],
    reply_window: float,
) -> None:
    sent = batch.created_at.timestamp()
    size = len(people)
    tally.batches += 1
    tally.first = sent if tally.first is None else min(tally.first, sent)
    tally.last = sent if tally.last is None else max(tally.last, sent)
    tally.funnel["recipients"] += size
    tally.sent[int(sent)] += 1
    if batch.outcome == FAILED:
        tally.funnel["failed"] += size
        code, words = _reason(batch.error)
        tally.fail(code, size, words, hint_for(code))
        return
    if batch.outcome != ACCEPTED:
        tally.funnel["unknown"] += size
        tally.fail("unknown", size, batch.error or "no answer said what happened", UNKNOWN_HINT)
    else:
        tally.funnel["accepted"] += size
        _bill(tally, batch.message, size)
    for address, status, status_at, source in people:
        if batch.outcome == ACCEPTED:
            _count_status(tally, sent, status, status_at, source)
        stopped = opted.get(address)
        if stopped is not None and stopped < sent:
            tally.violations += 1
            if len(tally.listed) < COMPLIANCE_LISTED:
                tally.listed.append((address, batch.created_at, _at(stopped)))
        for _, _, stop in replies.after(address, sent, reply_window):
            tally.repliers.add(address)
            if stop:
                tally.stoppers.add(address)


def _count_status(
    tally: _Tally, sent: float, status: str | None, status_at: float | None, source: str | None
) -> None:
    tally.funnel[status if status in STATUSES else NOT_CHECKED] += 1
    if status == "DeliveryImpossible":
        tally.fail(
            status,
            1,
            "the network could not deliver it",
            "check those numbers; the network gave up on them",
        )
    if status not in FINAL_STATUSES or status_at is None:
        return
    took = max(0.0, status_at - sent)
    tally.polled += source != RECEIPT
    tally.latency[round(took * 10)] += 1
    tally.latency_max = max(tally.latency_max, took)
    tally.reached[int(status_at)] += 1


def _bill(tally: _Tally, message: str, recipients: int) -> None:
    encoding, segments = _segments(message)
    tally.encodings[encoding] += recipients
    tally.segments[segments] += recipients
    tally.billed += segments * recipients


@lru_cache(maxsize=256)
def _segments(message: str) -> tuple[str, int]:
    info = analyze(message)
    return info.encoding, info.segments


def _reason(error: str | None) -> tuple[str, str]:
    """A failed batch's reason (the service's code, else its HTTP status) and its words."""
    text = error or "refused by the service"
    code = _CODE.search(text)
    if code:
        return code.group(1), text
    status = _HTTP.search(text)
    return (f"HTTP {status.group(1)}" if status else "refused"), text


def _report(selection: Selection, tally: _Tally, replies: dict[str, Any], refreshed: int) -> Report:
    failures = tuple(
        Failure(reason, count, words, hint)
        for reason, (count, words, hint) in sorted(
            tally.failures.items(), key=lambda item: (-item[1][0], item[0])
        )
    )
    accepted = tally.funnel["accepted"]
    cost = {
        "encodings": dict(sorted(tally.encodings.items())),
        "segments_per_text": dict(sorted(tally.segments.items())),
        "segments_billed": tally.billed,
        "texts": accepted,
    }
    return Report(
        selection=selection,
        batches=tally.batches,
        first_sent=None if tally.first is None else _at(tally.first),
        last_sent=None if tally.last is None else _at(tally.last),
        funnel={name: tally.funnel[name] for name in FUNNEL},
        failures=failures,
        latency=_latency(tally),
        timeline=_timeline(tally),
        replies=(
            replies.get("messages", 0),
            len(tally.repliers),
            len(tally.stoppers),
            replies.get("shown", ()),
        ),
        after_opt_out=(tally.violations, tuple(tally.listed)),
        cost=cost,
        refreshed=refreshed,
    )


def _latency(tally: _Tally) -> Latency | None:
    total = sum(tally.latency.values())
    if not total:
        return None
    ordered = sorted(tally.latency.items())

    def quantile(q: float) -> float:
        rank, seen = max(1, math.ceil(q * total)), 0
        for tenths, count in ordered:
            seen += count
            if seen >= rank:
                return tenths / 10
        return ordered[-1][0] / 10

    return Latency(
        count=total,
        p50=quantile(0.5),
        p90=quantile(0.9),
        p99=quantile(0.99),
        max=round(tally.latency_max, 1),
        histogram=_histogram(ordered, tally.latency_max),
        upper_bound=tally.polled > 0,
    )


def _histogram(ordered: Iterable[tuple[int, int]], top: float) -> tuple[tuple[str, int], ...]:
    last = next((i for i, edge in enumerate(_EDGES) if edge > top), len(_EDGES))
    edges = _EDGES[: max(last, 1) + 1] if last < len(_EDGES) else _EDGES
    counts = [0] * len(edges)
    for tenths, count in ordered:
        seconds = tenths / 10
        index = next((i for i in range(1, len(edges)) if seconds < edges[i]), len(edges)) - 1
        counts[index] += count
    labels = [f"{_span(edges[i])}–{_span(edges[i + 1])}" for i in range(len(edges) - 1)]
    labels.append(f"≥{_span(edges[-1])}")
    pairs = list(zip(labels, counts, strict=True))
    while pairs and pairs[-1][1] == 0:  # no empty bins after the last delivery
        pairs.pop()
    return tuple(pairs)


def _span(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:g}h"
    if seconds >= 60:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"


def _timeline(tally: _Tally) -> Timeline | None:
    moments = [*tally.sent, *tally.reached]
    if not moments:
        return None
    start, end = min(moments), max(moments)
    interval = next((i for i in _INTERVALS if (end - start) // i < _MAX_BINS), _INTERVALS[-1])
    origin = start - start % interval
    count = (end - origin) // interval + 1
    sent, reached = [0] * count, [0] * count
    for second, n in tally.sent.items():
        sent[(second - origin) // interval] += n
    for second, n in tally.reached.items():
        reached[(second - origin) // interval] += n
    bins = tuple((_at(origin + i * interval), sent[i], reached[i]) for i in range(count))
    return Timeline(interval, bins)


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def as_json(report: Report) -> dict[str, Any]:
    """Every figure of the report, as `--json` prints it and every renderer reads it."""
    from attsms.core.numbers import display

    recipients = report.funnel["recipients"]
    messages, repliers, stops, shown = report.replies
    sent_to = report.funnel["accepted"]
    count, listed = report.after_opt_out
    selection = report.selection
    return {
        "selection": {
            "key": selection.key,
            "message_ids": list(selection.message_ids),
            "send_id": None if selection.run_id is None else selection.run_id[:SEND_ID_LENGTH],
            "since": iso(selection.since),
            "until": iso(selection.until),
            "reply_window_hours": selection.reply_window / 3600,
        },
        "batches": report.batches,
        "first_sent": iso(report.first_sent),
        "last_sent": iso(report.last_sent),
        "refreshed": report.refreshed,
        "funnel": {
            name: {"count": n, "share": _share(n, recipients)} for name, n in report.funnel.items()
        },
        "failures": [
            {"reason": f.reason, "count": f.count, "words": f.words, "hint": f.hint}
            for f in report.failures
        ],
        "latency": None if report.latency is None else _latency_json(report.latency),
        "timeline": None if report.timeline is None else _timeline_json(report.timeline),
        "replies": {
            "messages": messages,
            "repliers": repliers,
            "stops": stops,
            "opt_out_rate": _share(stops, sent_to),
            "first": [
                {"from": display(r.sender), "at": iso(r.at), "text": r.text, "stop": r.stop}
                for r in shown
            ],
        },
        "compliance": {
            "sent_after_opt_out": count,
            "held_by_quiet_hours": report.funnel["deferred"],
            "listed": [
                {"to": display(a), "sent_at": iso(s), "opted_out_at": iso(o)} for a, s, o in listed
            ],
        },
        "cost": report.cost,
    }


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _latency_json(latency: Latency) -> dict[str, Any]:
    return {
        "count": latency.count,
        "p50": latency.p50,
        "p90": latency.p90,
        "p99": latency.p99,
        "max": latency.max,
        "upper_bound": latency.upper_bound,
        "histogram": [{"bin": label, "count": n} for label, n in latency.histogram],
    }


def _timeline_json(timeline: Timeline) -> dict[str, Any]:
    return {
        "interval_seconds": timeline.interval,
        "bins": [
            {"start": iso(start), "sent": sent, "reached": reached}
            for start, sent, reached in timeline.bins
        ],
    }


def refresh(
    open_session: Callable[[], Session], stores: StoreSettings, profile: str, selection: Selection
) -> int:
    """Ask the service about the selection's messages not final yet (as `attsms status` does,
    writing each answer into the history); the number asked about."""
    from attsms.track.status import track

    store = open_read_only(stores)
    if store is None:
        return 0
    with store:
        ids = _batch_ids(store, profile, selection)
        pending = [
            batch.message_id
            for batch, people in store.report_rows(ids)
            if batch.outcome == ACCEPTED
            and batch.message_id
            and any(status not in FINAL_STATUSES for _, status, _, _ in people)
        ]
    if pending:
        track(open_session, stores=stores, profile=profile, message_ids=pending)
    return len(pending)

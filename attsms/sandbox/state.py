"""Everything a sandbox remembers, and the operations the core asks of it.

`SandboxState` keeps it in memory, as plain JSON-able data (the HTTP server, a bare core, and the
reading of a state.json from before the database). `sqlstate.SqlState` keeps it in SQLite for the
in-process sandbox, with the same operations, so a request touches only the rows it needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from attsms.sandbox.addresses import FINAL_STATUSES, final_outcome

STATE_VERSION = 1

# Every operation that has counters, so stats always show all keys, zeros included.
OPERATIONS = ("token", "refresh", "revoke", "send", "status", "inbox")


def _zero_counts() -> dict[str, int]:
    return dict.fromkeys(OPERATIONS, 0)


class StateStore(Protocol):
    """What the core reads and changes. The small parts are plain attributes (read and written
    whole); the parts that grow with use (tokens, messages, outbox, inboxes, per-address counts)
    are reached only through methods, so a store on disk touches only the rows a request needs.

    stats holds "operations" and "attempts" (counts by operation); `delivered_to()` the rest.
    """

    faults: list[dict[str, Any]]
    stats: dict[str, Any]
    rate: dict[str, int]
    draws: int
    requests: int
    outcomes: dict[str, str]  # canonical address -> the outcome of its next deliveries

    def access_token(self, token: str) -> dict[str, Any] | None: ...
    def add_tokens(self, access: str, refresh: str, grant: str, expiries: ExpiryPair) -> None: ...
    def take_refresh_token(self, token: str) -> dict[str, Any] | None: ...
    def revoke(self, token: str) -> None: ...
    def add_message(self, message_id: str, record: dict[str, Any]) -> None: ...
    def message(self, message_id: str) -> dict[str, Any] | None: ...
    def add_recipients(
        self, message_id: str, addresses: list[str], text: str, now: float, keep: int
    ) -> None: ...
    def delivered_to(self) -> dict[str, int]: ...
    def outbox_entries(self) -> list[dict[str, Any]]: ...
    def has_inbox(self, registration_id: str) -> bool: ...
    def take_inbox(self, registration_id: str, limit: int) -> tuple[list[dict[str, Any]], int]: ...
    def add_inbox(self, registration_id: str, messages: list[dict[str, Any]]) -> int: ...
    def prune(self, cutoffs: PruneCutoffs) -> None: ...
    def clear(self) -> None: ...


@dataclass(frozen=True)
class ExpiryPair:
    """When a new access token and its refresh token expire (None: never)."""

    access: float | None
    refresh: float | None


@dataclass(frozen=True)
class PruneCutoffs:
    """What `prune` drops: messages final on every address sent before `final_sent_before`,
    others sent before `waiting_sent_before`, tokens expired at `now`, and the oldest tokens
    beyond `max_tokens` of each kind."""

    now: float
    final_sent_before: float
    waiting_sent_before: float
    max_tokens: int


def _expired(record: dict[str, Any], now: float) -> bool:
    expires_at = record["expires_at"]
    return expires_at is not None and now >= expires_at


@dataclass
class SandboxState:
    """The sandbox's memory. Times are clock seconds (floats); dicts keep insertion order.

    tokens / refresh_tokens: token -> {"expires_at": float | None, "grant": str}
    messages: message id -> {"sent_at", "addresses": [canonical], "message", "notify",
              "final": whether every address reaches a final status}
    inbox: registration id -> FIFO list of inbound messages, already in wire shape
    faults: queued fault rules (keys as faults.FAULT_RULE_DEFAULTS)
    stats: {"operations": ok answers by op, "attempts": all requests by op,
            "delivered_to": {address: accepted messages}}
    rate: the current rate-limit window {"window": int second, "count": int}
    draws: how many ids were drawn, so a seeded sandbox never repeats one across processes
    requests: how many API requests came in, the index of the seeded fail_rate decision
    outcomes: canonical address -> the outcome of its next deliveries, over the number's rule
    outbox: what was accepted, one entry per recipient in acceptance order
            {"messageId", "address": canonical, "message", "sent_at"}; kept (unlike `messages`)
            until reset, up to MAX_OUTBOX entries, oldest dropped first
    """

    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    refresh_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    inbox: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    faults: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, Any] = field(
        default_factory=lambda: {
            "operations": _zero_counts(),
            "attempts": _zero_counts(),
            "delivered_to": {},
        }
    )
    rate: dict[str, int] = field(default_factory=lambda: {"window": 0, "count": 0})
    draws: int = 0
    requests: int = 0
    outbox: list[dict[str, Any]] = field(default_factory=list)
    outcomes: dict[str, str] = field(default_factory=dict)

    # --- StateStore ----------------------------------------------------------------------------

    def access_token(self, token: str) -> dict[str, Any] | None:
        return self.tokens.get(token)

    def add_tokens(self, access: str, refresh: str, grant: str, expiries: ExpiryPair) -> None:
        self.tokens[access] = {"expires_at": expiries.access, "grant": grant}
        self.refresh_tokens[refresh] = {"expires_at": expiries.refresh, "grant": grant}

    def take_refresh_token(self, token: str) -> dict[str, Any] | None:
        return self.refresh_tokens.pop(token, None)

    def revoke(self, token: str) -> None:
        self.tokens.pop(token, None)
        refresh = self.refresh_tokens.pop(token, None)
        if refresh is not None:  # a refresh token ends its whole grant
            for tok in [t for t, rec in self.tokens.items() if rec["grant"] == refresh["grant"]]:
                del self.tokens[tok]

    def add_message(self, message_id: str, record: dict[str, Any]) -> None:
        self.messages[message_id] = record

    def message(self, message_id: str) -> dict[str, Any] | None:
        return self.messages.get(message_id)

    def add_recipients(
        self, message_id: str, addresses: list[str], text: str, now: float, keep: int
    ) -> None:
        delivered_to = self.stats["delivered_to"]
        count = delivered_to.get
        append = self.outbox.append  # bound once: 50 recipients a send (issue 25)
        for address in addresses:
            delivered_to[address] = count(address, 0) + 1
            append({"messageId": message_id, "address": address, "message": text, "sent_at": now})
        if len(self.outbox) > keep:
            del self.outbox[: len(self.outbox) - keep]

    def delivered_to(self) -> dict[str, int]:
        return dict(self.stats["delivered_to"])

    def outbox_entries(self) -> list[dict[str, Any]]:
        return self.outbox

    def has_inbox(self, registration_id: str) -> bool:
        return registration_id in self.inbox

    def take_inbox(self, registration_id: str, limit: int) -> tuple[list[dict[str, Any]], int]:
        queue = self.inbox.setdefault(registration_id, [])
        batch = queue[:limit]
        del queue[: len(batch)]
        return batch, len(queue)

    def add_inbox(self, registration_id: str, messages: list[dict[str, Any]]) -> int:
        queue = self.inbox.setdefault(registration_id, [])
        queue.extend(messages)
        return len(queue)

    def prune(self, cutoffs: PruneCutoffs) -> None:
        def gone(msg: dict[str, Any]) -> bool:
            before = cutoffs.final_sent_before if msg["final"] else cutoffs.waiting_sent_before
            sent_at: float = msg["sent_at"]
            return sent_at < before

        for mid in [mid for mid, msg in self.messages.items() if gone(msg)]:
            del self.messages[mid]
        for tokens in (self.tokens, self.refresh_tokens):
            for tok in [t for t, rec in tokens.items() if _expired(rec, cutoffs.now)]:
                del tokens[tok]
            while len(tokens) > cutoffs.max_tokens:  # oldest first: dicts keep insertion order
                del tokens[next(iter(tokens))]

    def clear(self) -> None:
        fresh = SandboxState()
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(fresh, name))

    # --- JSON --------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "tokens": self.tokens,
            "refresh_tokens": self.refresh_tokens,
            "messages": self.messages,
            "inbox": self.inbox,
            "faults": self.faults,
            "stats": self.stats,
            "rate": self.rate,
            "draws": self.draws,
            "requests": self.requests,
            "outbox": self.outbox,
            "outcomes": self.outcomes,
        }

    @classmethod
    def from_json(cls, data: Any) -> SandboxState:
        """Rebuild state from `to_json()` output; ValueError if it is not that."""
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            raise ValueError("not a sandbox state (or from another version)")
        fresh = cls()
        try:
            state = cls(
                tokens=dict(data["tokens"]),
                refresh_tokens=dict(data["refresh_tokens"]),
                messages={mid: _with_final(msg) for mid, msg in data["messages"].items()},
                inbox={k: list(v) for k, v in data["inbox"].items()},
                faults=list(data["faults"]),
                stats={**fresh.stats, **data["stats"]},
                rate=dict(data["rate"]),
                draws=int(data["draws"]),
                requests=int(data["requests"]),
                # Absent from state files written before the outbox existed.
                outbox=list(data.get("outbox", [])),
                outcomes=dict(data.get("outcomes", {})),
            )
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ValueError(f"malformed sandbox state: {exc!r}") from exc
        return state


def _with_final(msg: dict[str, Any]) -> dict[str, Any]:
    """A message as saved; `final` is worked out for one saved before it was kept."""
    if "final" not in msg:
        msg = {**msg, "final": all(final_outcome(a) in FINAL_STATUSES for a in msg["addresses"])}
    return msg

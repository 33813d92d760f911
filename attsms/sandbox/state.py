"""Everything a sandbox remembers, as plain JSON-able data so it can live in a file."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

STATE_VERSION = 1

# Every operation that has counters, so stats always show all keys, zeros included.
OPERATIONS = ("token", "refresh", "revoke", "send", "status", "inbox")


def _zero_counts() -> dict[str, int]:
    return dict.fromkeys(OPERATIONS, 0)


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
                messages=dict(data["messages"]),
                inbox={k: list(v) for k, v in data["inbox"].items()},
                faults=list(data["faults"]),
                stats={**fresh.stats, **data["stats"]},
                rate=dict(data["rate"]),
                draws=int(data["draws"]),
                requests=int(data["requests"]),
                # Absent from state files written before the outbox existed.
                outbox=list(data.get("outbox", [])),
            )
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ValueError(f"malformed sandbox state: {exc!r}") from exc
        return state

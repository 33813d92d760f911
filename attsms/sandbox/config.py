"""How a sandbox behaves: credentials, lifetimes, timings and injected faults."""

from __future__ import annotations

from dataclasses import dataclass, field

from attsms.sandbox.dialects import DIALECTS

DEMO_CLIENT_ID = "sandbox-client-id"
DEMO_CLIENT_SECRET = "sandbox-client-secret"
DEMO_REGISTRATION_ID = "12345"

# What AT&T documented: access tokens live 48 hours, refresh tokens 90 days.
DEFAULT_TOKEN_LIFETIME = 172_800
DEFAULT_REFRESH_LIFETIME = 90 * 24 * 3600


@dataclass(frozen=True)
class SandboxConfig:
    """Settings of one sandbox. Times are seconds; a lifetime of 0 means "never expires"."""

    client_id: str = DEMO_CLIENT_ID
    client_secret: str = DEMO_CLIENT_SECRET
    token_lifetime: int = DEFAULT_TOKEN_LIFETIME
    refresh_lifetime: int = DEFAULT_REFRESH_LIFETIME
    delivery_seconds: float = 2.0
    status_retention_seconds: float = 1800.0
    inbox_batch_size: int = 100
    latency_ms: int = 0
    fail_rate: float = 0.0
    rate_limit: int = 0
    seed: int | None = None
    registration_ids: frozenset[str] = field(
        default_factory=lambda: frozenset({DEMO_REGISTRATION_ID})
    )
    # The shapes of the GET inbox and delivery-status answers: "spec" (the OpenAPI spec's) or
    # "codekit" (what AT&T's SDKs parse); see attsms/sandbox/dialects.py.
    dialect: str = "spec"

    def __post_init__(self) -> None:
        # Fail at start-up with the setting named, not later with an odd answer.
        checks = {
            "token_lifetime": self.token_lifetime >= 0,
            "refresh_lifetime": self.refresh_lifetime >= 0,
            "delivery_seconds": self.delivery_seconds >= 0,
            "status_retention_seconds": self.status_retention_seconds >= 0,
            "inbox_batch_size": self.inbox_batch_size >= 1,
            "latency_ms": self.latency_ms >= 0,
            "fail_rate": 0.0 <= self.fail_rate <= 1.0,
            "rate_limit": self.rate_limit >= 0,
            "client_id": bool(self.client_id),
            "client_secret": bool(self.client_secret),
            "dialect": self.dialect in DIALECTS,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid sandbox setting: {', '.join(bad)}")

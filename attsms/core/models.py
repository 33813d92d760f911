"""Typed results of API calls. Light to import: no httpx, no rich."""

from __future__ import annotations

from dataclasses import dataclass

FINAL_STATUSES = frozenset({"DeliveredToTerminal", "DeliveredToNetwork", "DeliveryImpossible"})
FAILED_STATUSES = frozenset({"DeliveryImpossible"})


@dataclass(frozen=True)
class Token:
    access_token: str
    refresh_token: str | None
    expires_at: float | None  # epoch seconds; None: the service said it never expires
    token_type: str = "BEARER"


def header_safe(token: str) -> bool:
    """True when `token` can go in an Authorization header as it is: visible ASCII, no spaces.

    Anything else makes httpx refuse the header with an error that quotes it, secret and all.
    """
    return bool(token) and token.isascii() and token.isprintable() and " " not in token


@dataclass(frozen=True)
class SendResult:
    message_id: str
    addresses: tuple[str, ...]
    resource_url: str | None = None


@dataclass(frozen=True)
class DeliveryInfo:
    address: str
    status: str

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES


@dataclass(frozen=True)
class DeliveryStatus:
    message_id: str
    deliveries: tuple[DeliveryInfo, ...]
    resource_url: str | None = None

    @property
    def final(self) -> bool:
        return all(d.final for d in self.deliveries)


@dataclass(frozen=True)
class InboundMessage:
    message_id: str
    message: str
    sender: str
    destination: str
    received_at: str  # as the service sent it (ISO 8601); kept verbatim, never re-parsed


@dataclass(frozen=True)
class InboxBatch:
    messages: tuple[InboundMessage, ...]
    pending: int  # totalNumberOfPendingMessages: still waiting at the service after this batch
    resource_url: str | None = None


@dataclass(frozen=True)
class SenderIdentity:
    """Who a person texts: the account (client id at a base URL) and its short code. Consent
    (STOP, START) belongs to this, not to a profile name: every profile, host and
    environment-only run that sends as the account sees the same opt-outs.

    `short_code` None: the run names no registration ID, so every short code of the account
    counts (the safe side). `profile` is the profile this run uses: the per-profile opt-out list
    of attsms 0.2 is folded into the account's on first use.
    """

    account: str  # "<client id>@<base URL>", see attsms.auth.profiles.account_of
    short_code: str | None
    profile: str
    # The other saved profiles that send as this account, (name, short code): their 0.2 lists
    # are folded in too, so a STOP one of them kept is honoured before that profile next runs.
    also: tuple[tuple[str, str | None], ...] = ()

    @classmethod
    def unbound(cls, profile: str, short_code: str | None) -> SenderIdentity:
        """A profile with no client id yet (not logged in): what it records is kept under its
        own name, and honoured by its sends once it has one (`profile_account`)."""
        return cls(cls.profile_account_of(profile), short_code, profile)

    @property
    def profile_account(self) -> str:
        return self.profile_account_of(self.profile)

    @staticmethod
    def profile_account_of(profile: str) -> str:
        return f"profile:{profile}"

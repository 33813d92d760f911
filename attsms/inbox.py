"""The local inbox store and opt-out list (being built for the inbox issue)."""

from __future__ import annotations

from collections.abc import Iterable


def opted_out(profile: str, addresses: Iterable[str]) -> set[str]:
    """The wire addresses among `addresses` that texted STOP to this profile's short code."""
    del profile, addresses
    return set()

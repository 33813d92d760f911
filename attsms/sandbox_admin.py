"""The client side of the sandbox's own endpoints (inject, stats), in-process or over HTTP.

These endpoints are not part of the AT&T API, so they live apart from `attsms.api`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from attsms.errors import NetworkError, UsageError
from attsms.paths import data_dir


def sandbox_state_path() -> Path:
    """The in-process sandbox's state file (shared by every `--sandbox` run)."""
    return data_dir() / "sandbox" / "state.json"


def inject_inbound(
    registration_id: str, sender: str, text: str, *, count: int = 1, url: str | None = None
) -> dict[str, Any]:
    """Queue inbound messages; returns {"injected": n, "pending": total}."""
    if url is None:
        from attsms.sandbox.core import SandboxError
        from attsms.sandbox.store import inject_inbound as inject_local

        try:
            return dict(inject_local(sandbox_state_path(), registration_id, sender, text, count))
        except SandboxError as error:
            raise UsageError(f"the sandbox refused the message from {sender!r}: {error}") from None
    payload = {"from": sender, "text": text, "count": count}
    return _remote(url, "POST", f"/sandbox/inbox/{registration_id}", payload)


def read_stats(url: str | None = None) -> dict[str, Any]:
    if url is None:
        from attsms.sandbox.store import read_stats as read_local

        return dict(read_local(sandbox_state_path()))
    return _remote(url, "GET", "/sandbox/stats")


def _remote(url: str, method: str, path: str, payload: Any = None) -> dict[str, Any]:
    import httpx

    try:
        response = httpx.request(method, url.rstrip("/") + path, json=payload, timeout=30)
    except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError) as error:
        raise UsageError(
            f"invalid sandbox URL {url!r} ({error})", hint="e.g. http://127.0.0.1:8765"
        ) from None
    except httpx.HTTPError as error:
        raise NetworkError(f"cannot reach the sandbox at {url}: {error}") from None
    try:
        body: Any = response.json()
    except (ValueError, RecursionError):
        body = None
    if response.status_code >= 300 or not isinstance(body, dict):
        raise UsageError(
            f"the sandbox at {url} answered HTTP {response.status_code}: {response.text[:200]}"
        )
    return body

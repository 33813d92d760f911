"""The client side of the sandbox: its own endpoints (inject, stats, outbox, reset), in-process or
over HTTP, the check of the in-process state file, and `sandbox serve`'s listening socket.

These endpoints are not part of the AT&T API, so they live apart from `attsms.api.client`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attsms.core.errors import NetworkError, StoreError, UsageError, listen_error
from attsms.core.paths import data_dir

if TYPE_CHECKING:
    import httpx

    from attsms.auth.session import Session
    from attsms.sandbox import SandboxConfig

RESET_HINT = "run `attsms sandbox reset` to start the sandbox afresh"


def sandbox_session(
    *,
    region: str,
    log: Callable[[str], None] | None,
    warn: Callable[[str], None] | None,
    dialect: str = "spec",
) -> Session:
    """The `--sandbox` session: the demo credentials, on the in-process sandbox (no server, no
    network; its state in the data dir), answering in `dialect`."""
    import functools

    from attsms.auth.profiles import SANDBOX_PROFILE
    from attsms.auth.session import SANDBOX_BASE_URL, Session
    from attsms.sandbox import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REGISTRATION_ID

    return Session(
        profile=SANDBOX_PROFILE,
        base_url=SANDBOX_BASE_URL,
        client_id=DEMO_CLIENT_ID,
        secret=lambda: DEMO_CLIENT_SECRET,
        registration_id=DEMO_REGISTRATION_ID,
        region=region,
        secret_source="sandbox",
        log=log,
        warn=warn,
        transport=functools.partial(in_process_transport, dialect),
    )


def in_process_transport(dialect: str = "spec") -> httpx.BaseTransport:
    from attsms.sandbox import SandboxConfig
    from attsms.sandbox.transport import InProcessTransport

    return InProcessTransport(sandbox_state_path(), SandboxConfig(dialect=dialect))


def sandbox_client_id() -> str:
    """The client id of the sandbox's demo account (what `--sandbox` sends as)."""
    from attsms.sandbox import DEMO_CLIENT_ID

    return DEMO_CLIENT_ID


def sandbox_registration_id() -> str:
    """The registration ID (short code) the sandbox answers for."""
    from attsms.sandbox import DEMO_REGISTRATION_ID

    return DEMO_REGISTRATION_ID


def sandbox_state_path() -> Path:
    """The in-process sandbox's state database (shared by every `--sandbox` run). A state.json
    beside it, from an older attsms, is moved into it on first use."""
    return data_dir() / "sandbox" / "state.db"


@contextmanager
def _state_errors() -> Iterator[None]:
    """A state file that is not sandbox state: exit 1 naming the reset (retrying cannot help).
    One that cannot be read or locked (a read-only data dir): exit 1 naming the file."""
    from attsms.sandbox.store import SandboxStateError

    try:
        yield
    except SandboxStateError as error:
        raise StoreError(f"the sandbox state {error}", hint=RESET_HINT) from None
    except OSError as error:
        where = error.filename or sandbox_state_path()
        raise StoreError(
            f"cannot use the sandbox state {where}: {error.strerror or error}",
            hint="check that the data directory is writable, or set ATTSMS_DATA_DIR",
        ) from None


def check_state() -> None:
    """Raise StoreError if the in-process sandbox's state file is broken.

    Run before a `--sandbox` command talks to the sandbox, so that it fails at once with the way
    out, before anything is sent or fetched.
    """
    from attsms.sandbox.store import check, legacy_path

    path = sandbox_state_path()
    legacy = legacy_path(path)
    if not path.exists() and (legacy is None or not legacy.exists()):
        return
    with _state_errors():
        check(path)


def reset(url: str | None = None) -> dict[str, Any]:
    """Forget everything the sandbox holds (tokens, messages, inboxes, faults, counters), even
    a state file that is not sandbox state; returns {"reset": True}."""
    if url is None:
        from attsms.sandbox.store import reset as reset_local

        reset_local(sandbox_state_path())
        return {"reset": True}
    _remote(url, "POST", "/sandbox/reset")
    return {"reset": True}


def inject_inbound(
    registration_id: str, sender: str, text: str, *, count: int = 1, url: str | None = None
) -> dict[str, Any]:
    """Queue inbound messages; returns {"injected": n, "pending": total}."""
    if url is None:
        from attsms.sandbox.core import SandboxError
        from attsms.sandbox.store import inject_inbound as inject_local

        try:
            with _state_errors():
                return dict(
                    inject_local(sandbox_state_path(), registration_id, sender, text, count)
                )
        except SandboxError as error:
            raise UsageError(f"the sandbox refused the message from {sender!r}: {error}") from None
    payload = {"from": sender, "text": text, "count": count}
    return _remote(url, "POST", f"/sandbox/inbox/{registration_id}", payload)


def read_stats(url: str | None = None) -> dict[str, Any]:
    if url is None:
        from attsms.sandbox.store import read_stats as read_local

        with _state_errors():
            return dict(read_local(sandbox_state_path()))
    return _remote(url, "GET", "/sandbox/stats")


def read_outbox(url: str | None = None) -> dict[str, Any]:
    """What the sandbox accepted, one entry per recipient: {"outbox": [...], "total": n}."""
    if url is None:
        from attsms.sandbox.store import read_outbox as read_local

        with _state_errors():
            return dict(read_local(sandbox_state_path()))
    return _remote(url, "GET", "/sandbox/outbox")


def page_url(url: str) -> str:
    """The page of the `sandbox serve` at `url`, once it answers there (NetworkError if not)."""
    _remote(url, "GET", "/sandbox/changes")
    return url.rstrip("/") + "/"


def open_in_browser(url: str) -> bool:
    """Open `url` in the desktop's browser; False where there is none (no display: a text
    browser that `webbrowser` would pick could take over the terminal, so none is tried)."""
    import os
    import sys
    import webbrowser

    desktop = sys.platform in ("darwin", "win32") or any(
        os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER")
    )
    if not desktop:
        return False
    try:
        return webbrowser.open(url)
    except webbrowser.Error:
        return False


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


def serve(
    config: SandboxConfig,
    host: str,
    port: int,
    *,
    log_requests: bool = False,
    delivery_callback: str | None = None,
    inbound_callback: str | None = None,
) -> None:
    """`attsms sandbox serve`: the sandbox over HTTP until Ctrl-C (see sandbox.server.run).

    A socket that cannot be opened is one line: a host that is not known or not this machine's,
    or a port not allowed (exit 2), or a port in use (exit 75: it may be free later). A callback
    URL that is not http:// on a loopback address is a usage error (exit 2).
    """
    from attsms.sandbox.callbacks import CallbackConfig
    from attsms.sandbox.server import run

    if not 0 <= port <= 65535:  # the command checks it too; socket's own message is cryptic
        raise UsageError(f"port {port} is out of range", hint="use 0 to 65535 (0: any free port)")
    try:
        callbacks = CallbackConfig(delivery_url=delivery_callback, inbound_url=inbound_callback)
    except ValueError as error:
        raise UsageError(
            str(error), hint="the sandbox pushes only to this machine, e.g. http://127.0.0.1:8080/"
        ) from None
    try:
        run(config, host, port, log_requests=log_requests, callbacks=callbacks)
    except OSError as error:
        mapped = listen_error(error, host, port)
        if mapped is None:
            raise
        raise mapped from None

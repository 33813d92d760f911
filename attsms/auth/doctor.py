"""`attsms doctor`: will a run of this profile work, here or from cron? One check per need.

Each check asks the code a run uses (the one resolution of the profile, the session's secret
resolver, the token manager, the store's read-only openers, the API client) and says what is
wrong and the fix, so a 3 a.m. cron failure shows up at the desk instead. Nothing here sends a
message, takes an inbound message, or writes a store: the only writes are the token cache (a
cache, which a run writes too) and a probe byte in the cache and data dirs.

`--as-cron` runs the secret check again in a child process with what cron gives a job: no
D-Bus session, no display, a minimal PATH; this run's ATTSMS_* variables are kept, as a crontab
line would set them.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from attsms.auth.credentials import NO_KEYRING_HINT, listen_token_store
from attsms.core.errors import AttsmsError

if TYPE_CHECKING:
    from attsms.auth.profiles import ActiveProfile
    from attsms.auth.session import Session
    from attsms.store import StoreSettings

# fail: a run will fail (exit 1); warn: only some commands will (`listen`); skip: not checked.
Status = Literal["ok", "fail", "warn", "skip"]
CRON_PATH = "/usr/bin:/bin"
# How far this clock may be from the service's before tokens and timestamps go wrong.
CLOCK_TOLERANCE = 60.0
# The check the child of `--as-cron` runs.
SECRET = "secret"


@dataclass(frozen=True)
class Check:
    """One line of the report: what was checked, how it went, and the fix when it failed."""

    name: str
    status: Status
    detail: str
    fix: str | None = None


@dataclass
class Report:
    profile: str
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check.status != "fail" for check in self.checks)


def _failed(name: str, error: AttsmsError, fix: str | None = None) -> Check:
    return Check(name, "fail", error.message, fix or error.hint)


def run(
    resolve: Callable[[], tuple[ActiveProfile, StoreSettings]],
    *,
    as_cron: bool = False,
    only: str | None = None,
) -> Report:
    """Every check for the profile `resolve` gives (the command line's resolution), in the
    order a run needs them; `only` runs one (the `--as-cron` child asks for the secret's)."""
    try:
        active, stores = resolve()
        active.check_exists()
    except AttsmsError as error:  # nothing else can be checked without the settings
        report = Report("?")
        report.checks.append(_failed("config", error, error.hint or "fix or delete config.toml"))
        return report
    report = Report(active.name)
    for check in _checks(active, stores, as_cron=as_cron, only=only):
        report.checks.append(check)
    return report


def _checks(
    active: ActiveProfile, stores: StoreSettings, *, as_cron: bool, only: str | None
) -> Iterator[Check]:
    if only == SECRET:
        yield _secret(active)[0]
        return
    yield _config(active)
    secret, session = _secret(active)
    yield secret
    if as_cron:
        yield cron_secret(active.name)
    yield _writable("cache dir", "cache", "ATTSMS_CACHE_DIR (else every run fetches a token)")
    if stores.database_url is None:
        yield _writable("data dir", "data", "ATTSMS_DATA_DIR")
    yield _token(session)
    yield _store(stores)
    yield _inbox(active)
    yield _listen_token(active)
    yield _clock(active)


def _config(active: ActiveProfile) -> Check:
    from attsms.auth.config import config_path
    from attsms.auth.keys import saved_problems

    problems = saved_problems(active.saved) if active.saved is not None else []
    if problems:
        return Check(
            "config",
            "fail",
            "; ".join(problems),
            f"attsms config set KEY VALUE --profile {active.name}, or edit {config_path()}",
        )
    where = "saved" if active.saved is not None else "not saved: from the environment"
    return Check("config", "ok", f"profile {active.name} ({where}; chosen by {active.chosen_by})")


def _secret(active: ActiveProfile) -> tuple[Check, Session | None]:
    """The client secret, found as a run finds it (`Session`'s resolver), or what is wrong."""
    from attsms.auth.credentials import KeyringUnavailable
    from attsms.auth.session import Session

    try:
        session = Session.open(active)
        session.secret()
    except KeyringUnavailable as error:
        return _failed(SECRET, error, NO_KEYRING_HINT), None
    except AttsmsError as error:
        return _failed(SECRET, error), None
    where = {"env": "the environment (ATTSMS_CLIENT_SECRET)", "file": "the file store"}
    return Check(SECRET, "ok", f"found in {where.get(session.secret_source, 'the keyring')}"), (
        session
    )


def cron_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """What cron gives a job: HOME, LOGNAME, USER, SHELL=/bin/sh and a minimal PATH, and (as a
    crontab line would set them) this run's ATTSMS_* variables; no DBUS_SESSION_BUS_ADDRESS,
    no DISPLAY, no XDG_* or PYTHON* variables of a desktop session."""
    env = {name: value for name, value in environ.items() if name.startswith("ATTSMS_")}
    env.update({name: environ[name] for name in ("HOME", "LOGNAME", "USER") if name in environ})
    env.update(PATH=CRON_PATH, SHELL="/bin/sh")
    return env


def cron_secret(profile: str) -> Check:
    """The secret check again, in a child attsms run with a cron-like environment."""
    import json
    import subprocess

    name = "secret under cron"
    argv = [sys.executable, "-m", "attsms", "--profile", profile, "doctor", "--only", SECRET]
    try:
        child = subprocess.run(
            [*argv, "--json"],
            env=cron_environment(os.environ),
            capture_output=True,
            timeout=60,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return Check(name, "fail", f"the cron-like run failed: {error}", NO_KEYRING_HINT)
    try:
        found = json.loads(child.stdout)["checks"][0]
        return Check(name, found["status"], found["detail"], found.get("fix"))
    except (ValueError, KeyError, IndexError, TypeError):
        lines = child.stderr.decode(errors="replace").strip().splitlines()
        detail = lines[-1] if lines else "the cron-like run gave no answer"
        return Check(name, "fail", detail, NO_KEYRING_HINT)


def _writable(name: str, kind: str, variable: str) -> Check:
    from attsms.core import paths
    from attsms.core.fileutil import check_writable_dir

    directory = paths.cache_dir() if kind == "cache" else paths.data_dir()
    try:
        check_writable_dir(directory)
    except OSError as error:
        return Check(
            name,
            "fail",
            f"cannot write {directory}: {error.strerror or error}",
            f"make it writable, or point {variable} at a writable directory",
        )
    return Check(name, "ok", f"{directory} is writable")


def _token(session: Session | None) -> Check:
    """A valid cached token, or a new one from the token call (cached, as a run would)."""
    from attsms.auth.tokens import usable

    if session is None:
        return Check("token", "skip", "needs the client secret")
    try:
        cached = session.tokens.cached()
        if cached is not None and usable(cached, time.time()):
            left = "" if cached.token.expires_at is None else _duration(cached.token.expires_at)
            return Check("token", "ok", f"the cached token is valid{left}")
        session.tokens.current()
    except AttsmsError as error:
        fix = error.hint
        if error.exit_code == 3:
            fix = "check the client id and secret, then `attsms login` again"
        return _failed("token", error, fix)
    finally:
        session.close()
    return Check("token", "ok", f"the service at {session.base_url} gave a token")


def _duration(expires_at: float) -> str:
    return f" for {max(0, int(expires_at - time.time())) // 60} more minutes"


def _store(stores: StoreSettings) -> Check:
    """The store opens (read-only: nothing is created or upgraded) and its schemas are ones this
    attsms reads; an older one is upgraded by the next run that writes."""
    from attsms.store import admin, migrations

    try:
        status = admin.status(stores)
    except AttsmsError as error:
        fix = error.hint or "check that the database server is running and ATTSMS_DATABASE_URL"
        return _failed("store", error, fix)
    versions = [
        (status.history_schema, migrations.HISTORY_VERSION),
        (status.consent_schema, migrations.CONSENT_VERSION),
        *((inbox.schema, migrations.INBOX_VERSION) for inbox in status.inboxes),
    ]
    old = any(found is not None and found < current for found, current in versions)
    schema = "older schema, upgraded by the next run that writes" if old else "schema current"
    return Check("store", "ok", f"{status.backend} at {status.location} opens; {schema}")


def _inbox(active: ActiveProfile) -> Check:
    registration_id = active.registration_id
    if registration_id is None:
        return Check("inbox", "skip", "no registration ID (only `inbox pull` needs one)")
    # Polling would take the waiting messages: the service forgets what it returns.
    return Check(
        "inbox",
        "skip",
        f"registration ID {registration_id}; not polled (a poll takes the waiting messages)",
    )


def _listen_token(active: ActiveProfile) -> Check:
    kind = active.saved.store_kind if active.saved is not None else "keyring"
    try:
        found = listen_token_store(active.name, kind).lookup()
    except AttsmsError as error:  # only `attsms listen` needs it: a warning, not a failure
        fix = "set ATTSMS_LISTEN_TOKEN where `attsms listen` runs, or use the file store"
        return Check("listen token", "warn", f"`attsms listen` would fail: {error.message}", fix)
    if found is None:
        return Check("listen token", "skip", f"none yet: `attsms listen` makes one ({kind})")
    return Check("listen token", "ok", f"in {found[1].describe()}")


def _clock(active: ActiveProfile) -> Check:
    """This clock against the `Date` of the service's answer (tokens expire by the clock)."""
    from attsms.auth.session import api_client

    try:
        with api_client(active.base_url) as client:
            before = time.time()
            served = client.server_time()
            mine = (before + time.time()) / 2
    except AttsmsError as error:
        return _failed("clock", error)
    if served is None:
        return Check("clock", "skip", "the service's answer had no Date header")
    skew = mine - served.timestamp()
    if abs(skew) <= CLOCK_TOLERANCE:
        return Check("clock", "ok", f"within {abs(skew):.0f} s of the service's")
    way = "ahead of" if skew > 0 else "behind"
    return Check(
        "clock",
        "fail",
        f"this clock is {abs(skew):.0f} s {way} the service's (more than {CLOCK_TOLERANCE:.0f} s)",
        "set the time right and keep it so (NTP: `timedatectl set-ntp true`, chrony)",
    )

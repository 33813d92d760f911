"""`attsms login`, `attsms logout`, `attsms auth status`, `attsms auth token`."""

from __future__ import annotations

import enum
import sys
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from attsms.cli.commands.context import state
from attsms.cli.commands.options import examples, formats
from attsms.cli.output import Column, Format
from attsms.core.errors import AuthError, StoreError, UsageError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from attsms.auth.accounts import ProfileStatus

app = typer.Typer(
    help="Credentials: where they are, and access tokens for other tools.",
    epilog=examples(
        "attsms auth status",
        "attsms auth status --json",
        'curl -H "Authorization: Bearer $(attsms auth token)" https://api.att.com/…',
    ),
    no_args_is_help=True,
)

LOGIN_EPILOG = examples(
    "attsms login --client-id abc123          # prompts for the secret, keeps it in the keyring",
    'printf %s "$SECRET" | attsms login --client-id abc123 --client-secret-stdin --store file',
    "attsms login --profile staging --base-url https://staging.example.com --client-id abc123",
)
LOGOUT_EPILOG = examples("attsms logout", "attsms logout --profile staging")
STATUS_EPILOG = examples("attsms auth status", "attsms auth status --json | jq -r '.[0].token'")
TOKEN_EPILOG = examples(
    "TOKEN=$(attsms auth token)",
    'curl -H "Authorization: Bearer $TOKEN" https://api.att.com/sms/v3/messaging/outbox/ID',
    "attsms auth token --json | jq -r .expires_in",
)


class Store(enum.StrEnum):
    keyring = "keyring"
    file = "file"


ProfileOption = Annotated[
    str | None,
    typer.Option(
        "--profile",
        "-p",
        metavar="NAME",
        help="Credentials profile (default: the global --profile, ATTSMS_PROFILE, or 'default').",
    ),
]


# The options of `login`.
ClientId = Annotated[
    str | None, typer.Option("--client-id", metavar="ID", help="The app's client id (API key).")
]
ClientSecretStdin = Annotated[
    bool,
    typer.Option(
        "--client-secret-stdin",
        help="Read the client secret from stdin. A secret is never taken from the arguments.",
    ),
]
BaseUrl = Annotated[
    str | None,
    typer.Option("--base-url", metavar="URL", help="API base URL.  [default: https://api.att.com]"),
]
InsecureHttp = Annotated[
    bool,
    typer.Option(
        "--insecure-http",
        help="Allow a plain http:// base URL on another host (the secret crosses the network in"
        " clear). Without it such a URL is refused (exit 2); loopback needs no flag.",
    ),
]
RegistrationId = Annotated[
    str | None,
    typer.Option(
        "--registration-id", metavar="SHORTCODE", help="The app's short code, for the inbox."
    ),
]
Scope = Annotated[
    str | None, typer.Option("--scope", metavar="SCOPE", help="OAuth scope.  [default: SMS]")
]
SecretStore = Annotated[
    Store,
    typer.Option(
        "--store",
        help="Where the secret goes: the OS keyring, or a 0600 file (servers without one).",
    ),
]


@formats(Format.JSON)
def login(
    ctx: typer.Context,
    profile: ProfileOption = None,
    client_id: ClientId = None,
    client_secret_stdin: ClientSecretStdin = False,
    base_url: BaseUrl = None,
    registration_id: RegistrationId = None,
    scope: Scope = None,
    store: SecretStore = Store.keyring,
    insecure_http: InsecureHttp = False,
) -> None:
    """Check a client id and secret by fetching a token, then save them for later commands.

    On a terminal it prompts (the secret is not echoed); in a script, pass the secret on stdin
    with --client-secret-stdin. Nothing is saved when the credentials are wrong (exit 3).
    """
    from attsms.auth.accounts import login as login_profile
    from attsms.auth.accounts import login_base_url
    from attsms.auth.config import load_config
    from attsms.auth.profiles import profile_name

    app_state = state(ctx)
    out = app_state.output()
    if app_state.sandbox:
        raise UsageError("the sandbox needs no login", hint="run commands with --sandbox directly")
    name = profile_name(profile or app_state.profile)
    saved = load_config().profile(name)
    login_base_url(saved, base_url, insecure_http=insecure_http)  # before asking for a secret
    client_id = _client_id(client_id or (saved.client_id if saved else None))
    secret = _client_secret(from_stdin=client_secret_stdin)  # asked for after the client id
    status = login_profile(
        profile=name,
        client_id=client_id,
        secret=secret,
        base_url=base_url,
        registration_id=registration_id,
        scope=scope,
        store=store.value,
        insecure_http=insecure_http,
        log=out.stderr_line if app_state.verbose else None,
        warn=out.warn,
    )
    if store is Store.file:
        out.warn(
            f"the secret is kept in plain text in {status.secret_location} (mode 0600, in a 0700"
            " directory): anyone who can read your files can read it"
        )
    if out.format is Format.JSON:
        out.json(status)
    out.success(
        f"Logged in to {status.base_url} as {status.client_id} (profile {status.profile});"
        f" secret in {_secret_text(status)}."
    )


def _client_id(given: str | None) -> str:
    """`given` (the flag's, else the profile's saved one), else asked for on a terminal."""
    if given:
        return given
    if not sys.stdin.isatty():
        raise UsageError("no client id", hint="pass --client-id")
    return str(typer.prompt("Client ID", err=True)).strip()


def _client_secret(*, from_stdin: bool) -> str:
    """The secret from stdin (--client-secret-stdin), else asked for, unechoed, on a terminal:
    never from the arguments, which every user of the host can read (ps, /proc)."""
    if from_stdin:
        secret = sys.stdin.read().strip()
        if not secret:
            raise UsageError("no secret on stdin", hint="pipe the client secret into the command")
        return secret
    if not sys.stdin.isatty():
        raise UsageError("no secret", hint="pass --client-secret-stdin")
    return str(typer.prompt("Client secret", hide_input=True, err=True)).strip()


@formats(Format.JSON)
def logout(ctx: typer.Context, profile: ProfileOption = None) -> None:
    """Revoke the token at the service, and delete the stored secret and token cache.

    A failure to revoke is a warning: the token is deleted here all the same. Settings (client id,
    base URL) stay in config.toml, so `attsms login` asks only for the secret next time.
    """
    from attsms.auth.accounts import logout as logout_profile

    app_state = state(ctx)
    out = app_state.output()
    result = logout_profile(
        profile=profile or app_state.profile,
        log=out.stderr_line if app_state.verbose else None,
        sandbox=app_state.sandbox,  # never the real profile: only the sandbox's own token
    )
    for warning in result.warnings:
        out.warn(warning)
    if out.format is Format.JSON:
        out.json(result)
    if result.secret_error:
        raise StoreError(
            f"the secret of profile {result.profile!r} could not be deleted: {result.secret_error}"
        )
    if not (result.token_deleted or result.secret_deleted):
        out.info(f"Profile {result.profile} was not logged in.")
        return
    done = [
        "token revoked" if result.revoked else None,
        "token deleted" if result.token_deleted else None,
        "secret deleted" if result.secret_deleted else None,
    ]
    out.success(f"Logged out of profile {result.profile}: {', '.join(d for d in done if d)}.")


@app.command("status", epilog=STATUS_EPILOG)
@formats(Format.JSON)
def status(ctx: typer.Context, profile: ProfileOption = None) -> None:
    """Show each profile: client id, base URL, where the secret is, the token's state, and where
    the `attsms listen` token is kept (never its value).

    Exits 3 when the profile in use has no usable credentials.
    """
    from attsms.auth.accounts import auth_status
    from attsms.auth.credentials import NO_KEYRING_HINT

    app_state = state(ctx)
    out = app_state.output()
    settings = app_state.settings_for(profile)
    sandbox = None
    if settings.sandbox:
        from attsms.cli.sandbox_admin import sandbox_session

        sandbox = sandbox_session(region=settings.profile.region, log=None, warn=None)
    statuses = auth_status(
        settings.profile,
        database_url=settings.store.database_url,
        only_active=bool(profile or app_state.profile),
        sandbox=sandbox,
    )
    rows = [
        {
            "profile": f"{s.profile} *" if s.active and len(statuses) > 1 else s.profile,
            "client_id": s.client_id or "-",
            "base_url": s.base_url,
            "registration_id": s.registration_id or "-",
            "secret": _secret_text(s),
            "secret_source": s.secret_source,  # styles the SECRET column; not shown
            "token": _token_text(s),
            "listen_token": s.listen_token,
            "store": s.store,
        }
        for s in statuses
    ]
    out.records(
        rows,
        [
            Column("profile", "PROFILE"),
            Column("client_id", "CLIENT ID"),
            Column("base_url", "BASE URL"),
            Column("registration_id", "REGISTRATION ID"),
            Column("secret", "SECRET", style_row=_secret_style),
            Column("token", "TOKEN"),
            Column("listen_token", "LISTEN TOKEN"),
            Column("store", "STORE"),
        ],
        document=statuses,
    )
    active = statuses[0]
    if active.secret_source == "unavailable":
        raise AuthError(
            f"the secret of profile {active.profile!r} cannot be read: {active.secret_location}",
            hint=NO_KEYRING_HINT,
        )
    if not active.logged_in:
        flag = "" if active.profile == "default" else f" --profile {active.profile}"
        raise AuthError(
            f"profile {active.profile!r} is not logged in",
            hint=f"run `attsms login{flag}`, or set ATTSMS_CLIENT_ID and ATTSMS_CLIENT_SECRET",
        )


@app.command("token", epilog=TOKEN_EPILOG)
@formats(Format.JSON)
def token(ctx: typer.Context) -> None:
    """Print a valid access token (fetched or refreshed as needed), for curl and other tools."""

    app_state = state(ctx)
    out = app_state.output()
    session = app_state.session(out)
    try:
        current = session.tokens.current()
    finally:
        session.close()
    if out.format is not Format.JSON:
        out.text(current.token.access_token)
        return
    expires_at = current.token.expires_at
    document: dict[str, Any] = {
        "access_token": current.token.access_token,
        "token_type": current.token.token_type,
        "expires_in": None if expires_at is None else max(0, int(expires_at - time.time())),
        "profile": session.profile,
        "base_url": session.base_url,
    }
    out.json(document)


def _secret_text(status: ProfileStatus) -> str:
    source, location = status.secret_source, status.secret_location
    if source == "env":
        return f"environment ({location})"
    if source == "keyring":
        return f"keyring ({location})"
    if source == "file":
        return f"file {location}"
    if source == "sandbox":
        return "sandbox demo credentials"
    if source == "unavailable":
        return f"unavailable: {location}"
    return f"missing ({location})" if location else "missing"


def _secret_style(row: Mapping[str, Any]) -> str | None:
    return "red" if row["secret_source"] in ("missing", "unavailable") else None


def _token_text(status: ProfileStatus) -> str:
    if status.token == "valid":
        seconds = status.token_expires_in
        if seconds is None:
            return "valid, never expires"
        hours, minutes = divmod(seconds // 60, 60)
        return f"valid, expires in {hours}:{minutes:02d}"
    return status.token

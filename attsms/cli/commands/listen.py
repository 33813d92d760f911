"""`attsms listen`: receive delivery receipts and inbound messages as the service pushes them."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from attsms.cli.commands.context import state
from attsms.cli.commands.options import (
    Backoff,
    ExecTimeout,
    Host,
    MaxAttempts,
    Port,
    examples,
    exec_option,
    formats,
)
from attsms.cli.output import Format

if TYPE_CHECKING:
    from attsms.cli.output import Output
    from attsms.cli.settings import Settings
    from attsms.core.models import SenderIdentity
    from attsms.receive.handler import HandlerWorker
    from attsms.receive.listen import ListenToken
    from attsms.store import StoreSettings

EPILOG = examples(
    "attsms listen --port 8080",
    "attsms listen --host 0.0.0.0 --port 8080 --jsonl | my-handler",
    "ATTSMS_LISTEN_TOKEN=$(cat /run/secrets/listen-token) attsms listen -p prod",
    "attsms listen --port 8080 --exec ./handle-reply",
)


@formats(Format.JSONL)
def listen(
    ctx: typer.Context,
    host: Host = "127.0.0.1",
    port: Port = 8080,
    exec_command: Annotated[
        str | None,
        exec_option("Run CMD for each inbound message stored, as `inbox handle` runs it."),
    ] = None,
    exec_timeout: ExecTimeout = 60.0,
    max_attempts: MaxAttempts = 5,
    backoff: Backoff = 30.0,
) -> None:
    """Serve the callback URLs the service pushes to, storing each notification before its 2xx.

    Delivery receipts update the history (so `status` needs no request); inbound messages go to
    the inbox with `inbox pull`'s STOP/START handling. The URLs hold a secret token (from
    ATTSMS_LISTEN_TOKEN, else made once and kept in the keyring, or the file store when the
    profile uses one) and are printed on stderr at start: the token whole on a terminal, else
    masked (its first 4 characters), with where it is kept. SIGTERM or Ctrl-C: stop accepting,
    finish what is in flight, exit 0. With --jsonl, a reader that went away (`| head -1`) stops
    it the same way with exit 141; what it had not stored is answered 503, so the service pushes
    it again to the restarted listener.

    --exec CMD: a worker apart from the requests (a 2xx never waits for it) runs CMD for each
    stored inbound message as `inbox handle` does, so a restart resumes where it stopped; on
    SIGTERM the running CMD finishes (up to its timeout) and is recorded before listen exits.
    """
    from attsms.core.errors import StdoutClosed
    from attsms.receive.listen import ListenApp, listen_profile, listen_token, serve
    from attsms.receive.sink import StoreSink
    from attsms.receive.writer import Writer

    app_state = state(ctx)
    out = app_state.output()
    jsonl = out.format is Format.JSONL
    settings = app_state.settings
    who = listen_profile(settings.profile, sandbox_registration=_sandbox_registration(settings))
    token = listen_token(who)
    assert token is not None  # made when missing

    worker = None
    if exec_command is not None:
        rules, store = (exec_timeout, max_attempts, backoff), settings.store
        worker = _worker(exec_command, rules, store, who.name, out, jsonl=jsonl)
    wake = None if worker is None else worker.wake
    sender = settings.sender
    writer = Writer(lambda: StoreSink(sender, settings.store, on_inbound=wake))
    app = ListenApp(
        token.value,
        writer,
        default_registration=who.registration_id,
        on_stored=_printer(out) if jsonl else None,
        output_open=(lambda: not _reader_gone(sys.stdout)) if jsonl else None,
        log=out.stderr_line,
    )

    announce = _announcer(out, who.name, token, sender)
    if worker is not None:
        worker.start()
    try:
        serve(app, writer, host, port, announce=announce)
    finally:
        if worker is not None:
            worker.stop()  # the running handler finishes and is recorded
    if app.output_closed:
        out.warn(
            "stdout was closed (the --jsonl reader went away): listen stopped after answering the"
            " requests in flight; the service pushes again what was not stored (exit 141)"
        )
        raise StdoutClosed


def _reader_gone(stream: Any) -> bool:
    """Whether the reader of `stream` (a pipe) went away: the kernel flags the writing end of a
    pipe whose reading end is closed (POLLERR), before anything is written to it."""
    import select

    try:
        poller = select.poll()
        poller.register(stream.fileno(), 0)  # errors and hang-ups are reported whatever the mask
        events = poller.poll(0)
    except (OSError, ValueError, AttributeError):  # not a file (a test's StringIO): it is open
        return False
    return any(mask & (select.POLLERR | select.POLLHUP) for _, mask in events)


def _worker(
    command: str,
    rules: tuple[float, int, float],
    stores: StoreSettings,
    profile: str,
    out: Output,
    *,
    jsonl: bool,
) -> HandlerWorker:
    """`--exec`'s worker: the handler run apart from the requests, on its own store."""
    from attsms.receive.handler import HandlerWorker, handler_config
    from attsms.store import open_inbox

    timeout, max_attempts, backoff = rules
    config = handler_config(
        command,
        timeout=timeout,
        max_attempts=max_attempts,
        backoff=backoff,
        stdout_to_stderr=jsonl,  # stdout holds the --jsonl lines
    )
    return HandlerWorker(lambda: open_inbox(stores, profile), config, log=out.warn)


def _announcer(
    out: Output, profile: str, token: ListenToken, sender: SenderIdentity
) -> Callable[[str], None]:
    """What `serve` calls once the socket is bound: the callback URLs, on stderr."""

    def announce(url: str) -> None:
        # Raw stderr on purpose: the token is a remembered secret, which out.info would mask,
        # and these URLs (to register with the service) are the one place it is shown: whole on
        # a terminal only. Elsewhere (journald, a log file) 4 characters, and where it is kept.
        made = "made and saved in" if token.created else "from"
        shown = token.value if out.stderr_tty else token.masked
        sys.stderr.write(
            f"attsms: listening on {url} for profile {profile} (token {made} {token.where})\n"
            f"  delivery callback: {url}/notify/{shown}/delivery\n"
            f"  inbound callback:  {url}/notify/{shown}/inbound\n"
            + ("" if out.stderr_tty else f"  (token masked off a terminal: {token.reveal})\n")
        )
        sys.stderr.flush()
        if sender.account == sender.profile_account:
            out.warn(
                f"profile {sender.profile!r} has no client id: the STOP replies it records bind"
                " its own sends only, not other profiles of the account; run `attsms login` (or"
                " set ATTSMS_CLIENT_ID) so they bind every profile that sends as the account"
            )

    return announce


def _sandbox_registration(settings: Settings) -> str | None:
    """With --sandbox, the sandbox's registration ID (pushes may leave it out)."""
    if not settings.sandbox:
        return None
    from attsms.cli.sandbox_admin import sandbox_registration_id

    return sandbox_registration_id()


def _printer(out: Output) -> Callable[[dict[str, Any]], None]:
    """--jsonl: each stored notification a line; a reader gone stops the listener (141)."""
    from attsms.core.errors import StdoutClosed
    from attsms.receive.listen import OutputClosed

    def stored(row: dict[str, Any]) -> None:
        try:
            out.json_line(row)
        except StdoutClosed:
            raise OutputClosed from None

    return stored

"""Exit codes and the one error hierarchy that every command raises.

The top-level handler in `attsms.cli.main` is the only place that turns these into a message
and an exit
status, so a new failure needs a class here, not a `sys.exit` somewhere else.
"""

from __future__ import annotations

import errno
import re
from enum import IntEnum

from attsms.core.redaction import scrub

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


class ExitCode(IntEnum):
    """Stable, documented exit statuses (README's "Scripts and exit codes", `attsms --help`, the
    EXIT STATUS section of attsms(1))."""

    OK = 0
    ERROR = 1  # the command failed; the message says why
    USAGE = 2  # bad usage or bad input: nothing was sent
    AUTH = 3  # missing, wrong or unusable credentials
    PARTIAL = 4  # some of the work succeeded, some failed (see the output per item); --exec: a
    # message became a dead letter
    UNKNOWN_OUTCOME = 5  # a request may or may not have reached the service
    TEMPFAIL = 75  # try again later: rate limited, service busy, store locked (EX_TEMPFAIL)
    HANGUP = 129  # SIGHUP (128 + 1): the terminal went away; handled as Ctrl-C
    INTERRUPTED = 130  # Ctrl-C
    BROKEN_PIPE = 141  # stdout closed by its reader (`| head -1`): 128 + SIGPIPE, as shells say
    TERMINATED = 143  # SIGTERM (128 + 15): timeout, systemd, kill; handled as Ctrl-C


class StdoutClosed(Exception):
    """The reader of stdout went away (`attsms … | head -1`): normal in a pipeline. Not an
    `AttsmsError`: no error line, exit BROKEN_PIPE."""


class AttsmsError(Exception):
    """A failure the user should see as one line, with a stable exit code."""

    exit_code: ExitCode = ExitCode.ERROR

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        # Scrubbed where it is made: a service may echo the secret it was sent, and a message
        # is printed, put in JSON and kept as a note in the history.
        message = scrub(message)
        super().__init__(message)
        self.message = message
        self.hint = None if hint is None else scrub(hint)

    def __str__(self) -> str:
        return f"{self.message}; {self.hint}" if self.hint else self.message


class UsageError(AttsmsError):
    """Bad flags or bad input (numbers, message text, files)."""

    exit_code = ExitCode.USAGE


class ConfigError(AttsmsError):
    """A config file that cannot be read or holds a wrong value."""

    exit_code = ExitCode.USAGE


class AuthError(AttsmsError):
    """No credentials, wrong credentials, or an app the service will not serve."""

    exit_code = ExitCode.AUTH


class StoreError(AttsmsError):
    """A local file or database (history, inbox, token cache) cannot be read or written."""

    exit_code = ExitCode.ERROR


class TemporaryError(AttsmsError):
    """Worth retrying later: the caller (often cron) should run the command again."""

    exit_code = ExitCode.TEMPFAIL


class LockTimeoutError(TemporaryError):
    """Another attsms process holds a lock we need (inbox pull, token refresh)."""


class NetworkError(TemporaryError):
    """The service could not be reached, or did not answer in time, on a request safe to repeat."""


class UnknownOutcomeError(AttsmsError):
    """A request that changes state (a send) may or may not have reached the service.

    It is never resent blindly: resending could text someone twice.
    """

    exit_code = ExitCode.UNKNOWN_OUTCOME


class PartialFailure(AttsmsError):
    """Some items succeeded and some failed; the output lists each."""

    exit_code = ExitCode.PARTIAL


class ApiError(AttsmsError):
    """The service answered with an error.

    `status` is the HTTP status, `code` the service's error id (SVC0002, POL0001) when it sent one.
    The exit code depends on both: see `exit_code_for`.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None = None,
        hint: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.code = code
        self.retry_after = retry_after
        self.exit_code = exit_code_for(status, code)


# Policy errors that mean "this app may not do this at all": credentials/provisioning, not input.
_AUTH_POLICY_CODES = frozenset({"POL1009", "POL1010"})
# Errors that mean "not now": a cron job should simply run again later.
_TEMPORARY_CODES = frozenset({"SVC1000", "POL0001"})


def exit_code_for(status: int, code: str | None) -> ExitCode:
    """The exit code for an HTTP error status and service error id."""
    if status == 401 or code in _AUTH_POLICY_CODES:
        return ExitCode.AUTH
    if status == 429 or code in _TEMPORARY_CODES or status >= 500:
        return ExitCode.TEMPFAIL
    if status == 400:
        return ExitCode.USAGE
    return ExitCode.ERROR


def one_line(text: str) -> str:
    """`text` as a single printable line: a server's error text may hold newlines or escapes."""
    return " ".join(_CONTROL.sub(" ", text).split())


def listen_error(error: OSError, host: str, port: int) -> AttsmsError | None:
    """A socket that cannot be opened for listening, as one line (None: not one of these)."""
    import socket

    if isinstance(error, socket.gaierror):
        return UsageError(f"unknown host {host!r}", hint="use an address of this machine")
    if error.errno == errno.EADDRINUSE:
        return TemporaryError(
            f"port {port} on {host} is in use",
            hint="stop what listens there, or choose another port (--port 0: any free one)",
        )
    if error.errno == errno.EADDRNOTAVAIL:
        return UsageError(
            f"cannot listen on {host}: not an address of this machine",
            hint="try 127.0.0.1, or 0.0.0.0 for every address",
        )
    if error.errno == errno.EACCES:
        return UsageError(
            f"not allowed to listen on port {port}", hint="use a port above 1023, or --port 0"
        )
    return None

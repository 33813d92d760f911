"""Entry point: the fast paths and the one place that turns errors into exit codes.

Nothing heavy is imported at module level: `attsms --version` answers before Typer, rich or httpx
load, and `--help` loads Typer but not rich, httpx or keyring. So every attsms module past
`core.errors` (the command tree, the output layer, the signal handlers) is imported inside the
function that needs it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence

from attsms import __version__
from attsms.core.errors import AttsmsError, ExitCode, StdoutClosed, UsageError, one_line
from attsms.core.redaction import scrub


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args in (["--version"], ["-V"]):
        sys.stdout.write(f"attsms {__version__}\n")
        return ExitCode.OK
    if (text := cached_help(args)) is not None:
        _write_escaped(text)
        return ExitCode.OK
    _escape_unencodable_output()
    _skip_httpx_cli()
    verbose = "--verbose" in args or "-v" in args or bool(os.environ.get("ATTSMS_DEBUG"))
    # A real run (not a caller's `main([...])`): SIGTERM and SIGHUP stop it as Ctrl-C does.
    restore_signals = _handle_termination() if argv is None else None
    try:
        return _run(args)
    except KeyboardInterrupt as interrupt:
        return _interrupted(interrupt)
    except AttsmsError as error:
        _error(str(error))
        return int(error.exit_code)
    except (BrokenPipeError, StdoutClosed):
        # `attsms … | head -1`: the reader left, which is normal in a pipeline. What was fetched
        # is already stored (stores commit before printing). Point stdout at devnull so the
        # interpreter's final flush does not complain, and exit quietly with the status a tool
        # killed by SIGPIPE has (`yes | head -1`).
        _silence_stdout()
        return ExitCode.BROKEN_PIPE
    except UnicodeEncodeError as error:
        source = _undecodable_source(args, error)
        if source is None:
            return _unexpected(error, verbose)
        # Python keeps bytes that are not UTF-8 (from argv or the environment) as lone
        # surrogates, which fail wherever the text is encoded: a database, a URL, a form.
        usage = UsageError(f"{source} is not valid UTF-8 text", hint="use UTF-8")
        _error(str(usage))
        return int(usage.exit_code)
    except Exception as error:  # the last line of defence: one line, never a traceback
        return _unexpected(error, verbose)
    finally:
        if restore_signals is not None:
            restore_signals()


# `--help` rendered at build time (`python -m attsms.cli.docgen` writes it; CI checks it is
# fresh, and tests that each page matches what Typer prints): the help of a command does not
# change between runs, and loading Typer and the command tree to print it costs ~70 ms.
_HELP_FLAGS = ("--help", "-h")
_HELP_CACHE = "help.json"


def cached_help(args: Sequence[str]) -> str | None:
    """What `attsms [COMMAND ...] --help` prints, from the cache; None when the cache does not
    hold it (another terminal width, an option before --help, a typo): Typer answers."""
    if not args or args[-1] not in _HELP_FLAGS or any(a.startswith("-") for a in args[:-1]):
        return None
    import json

    # os.path, not pathlib: importing pathlib costs more than this whole read.
    path = os.path.join(os.path.dirname(__file__), _HELP_CACHE)  # noqa: PTH118, PTH120
    try:
        with open(path, encoding="utf-8") as file:  # noqa: PTH123
            pages = json.load(file)
    except (OSError, ValueError):
        return None
    text = pages.get(str(help_width()), {}).get(" ".join(["attsms", *args[:-1]]))
    return text if isinstance(text, str) else None


def help_width() -> int:
    """The width click wraps help to (`max_content_width` 100), found as `shutil` finds the
    terminal's size: COLUMNS, else the terminal of stdout, else 80 columns."""
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
        columns = columns or 80
    return max(min(columns, 100) - 2, 50)


def _write_escaped(text: str) -> None:
    """`text` on stdout, what its encoding cannot hold escaped (`\\u2019`), as every command."""
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    sys.stdout.write(text.encode(encoding, "backslashreplace").decode(encoding))
    sys.stdout.flush()


def _skip_httpx_cli() -> None:
    """`import httpx` also loads httpx's own command line (`httpx._main`: click, rich.progress,
    rich.syntax, pygments), about a third of its import time, which attsms never runs. A None
    in sys.modules makes that one import fail, and httpx falls back to a stub: its documented
    path when the `httpx[cli]` extras are missing. Measured: one send 20-40 ms sooner."""
    if "httpx" not in sys.modules:
        sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]


def _escape_unencodable_output() -> None:
    """A curly quote must not fail a command whose stdout is ASCII (see output.py)."""
    from attsms.cli.output import escape_unencodable

    escape_unencodable(sys.stdout, sys.stderr)


def _handle_termination() -> Callable[[], None]:
    from attsms.core.interrupts import install_handlers

    return install_handlers()


def _interrupted(interrupt: KeyboardInterrupt | None) -> int:
    """Ctrl-C exits 130 quietly; SIGTERM and SIGHUP exit 128 + the signal, saying so.

    `interrupt` is None when Typer already turned the KeyboardInterrupt into 130.
    """
    import signal

    from attsms.core.interrupts import TERMINATING, Terminated, received_signal

    signum = interrupt.signum if isinstance(interrupt, Terminated) else received_signal()
    if signum in TERMINATING:
        _error(f"stopped by {signal.Signals(signum).name}")
        return int(ExitCode(128 + signum))  # HANGUP or TERMINATED
    if interrupt is not None:
        sys.stderr.write("\n")  # after the terminal's ^C
    return ExitCode.INTERRUPTED


def _unexpected(error: Exception, verbose: bool) -> int:
    """A bug: one line, or with --verbose the traceback too (called while `error` is handled)."""
    if verbose:
        import traceback

        sys.stderr.write(scrub(traceback.format_exc()))
    first_line = (str(error).splitlines() or [""])[0]
    _error(f"unexpected {type(error).__name__}: {first_line}")
    if not verbose:
        sys.stderr.write("attsms: run with --verbose for details\n")
    return ExitCode.ERROR


def _undecodable_source(args: Sequence[str], error: UnicodeEncodeError) -> str | None:
    """The argument or ATTSMS_ variable holding the lone surrogates `error` met, if one does."""
    bad = error.object[error.start : error.end] if isinstance(error.object, str) else ""
    if not bad or not all("\ud800" <= char <= "\udfff" for char in bad):
        return None
    for arg in args:
        if bad in arg:
            return f"the argument {arg!r}"
    for name, value in sorted(os.environ.items()):
        if name.startswith("ATTSMS_") and bad in value:
            return name  # not its value: it may be the secret
    return None


def _run(args: list[str]) -> int:
    from attsms.cli.app import build_command

    # Every run resolves its own settings (AppState.settings): nothing to forget between runs.
    command = build_command()
    try:
        result = command.main(args, prog_name="attsms", standalone_mode=False)
    except Exception as error:
        exit_code = getattr(error, "exit_code", None)
        if type(error).__name__ == "Abort":  # click's Ctrl-C at a prompt
            raise KeyboardInterrupt from None
        if isinstance(exit_code, int) and hasattr(error, "format_message"):
            # click's UsageError / BadParameter / NoSuchOption: one line, exit 2.
            _error(_click_message(error))
            return ExitCode.USAGE if exit_code == 2 else exit_code
        raise
    if result == ExitCode.INTERRUPTED:  # Typer's answer to a KeyboardInterrupt in a command
        return _interrupted(None)
    return result if isinstance(result, int) else ExitCode.OK


def _click_message(error: Exception) -> str:
    message = str(error.format_message())  # type: ignore[attr-defined]
    ctx = getattr(error, "ctx", None)
    if ctx is not None and getattr(error, "exit_code", 0) == 2:
        message += f" (see `{ctx.command_path} --help`)"
    return message


def _error(message: str) -> None:
    from attsms.cli.output import Output

    Output().error(one_line(message))


def _silence_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())

"""Man pages, shell completion scripts and docs/help.md, generated from the live command tree.

    python -m attsms.cli.docgen           write man/*.1, completions/*, docs/help.md
    python -m attsms.cli.docgen --check   exit 1 listing the files that differ from what it
                                          would write

Names, synopses, descriptions, options and examples come from the click command behind the Typer
app (help texts and `examples(...)` epilogs), so a new command or flag needs no edit here, only a
run. The tables below (exit status, environment, files) are the one list the README and tests
check against the code. CI runs `--check`, so the committed files never go stale.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from attsms import __version__
from attsms.auth import config, credentials, tokens
from attsms.cli import sandbox_admin
from attsms.cli.app import build_command
from attsms.cli.commands.completion import completion_script
from attsms.core.errors import ExitCode
from attsms.store import inbox

if TYPE_CHECKING:
    from typer import _click as click

ROOT = Path(__file__).resolve().parents[2]
SHELLS = ("bash", "zsh", "fish")
# docs/help.md shows --help as a terminal of 100 columns or more does (max_content_width=100).
HELP_WIDTH = 98
# attsms/cli/help.json: every --help as click renders it for a terminal of 100 columns or more
# (98) and for one of 80 or a pipe (78), read by `cli.main` instead of loading Typer.
CACHED_HELP_WIDTHS = (78, 98)
HELP_CACHE = "attsms/cli/help.json"

EXIT_STATUS: dict[ExitCode, str] = {
    ExitCode.OK: "success",
    ExitCode.ERROR: "error (the message says which)",
    ExitCode.USAGE: "bad usage or bad input: nothing was sent",
    ExitCode.AUTH: "credentials missing, wrong, or refused",
    ExitCode.PARTIAL: (
        "partial failure: some recipients or batches failed, the rest succeeded; for `--exec`"
        " (`inbox pull`, `inbox handle`), a message became a dead letter in this run"
        " (`inbox list --failed`)"
    ),
    ExitCode.UNKNOWN_OUTCOME: (
        "unknown outcome: a send may or may not have reached the service; do not resend blindly"
    ),
    ExitCode.TEMPFAIL: (
        "temporary failure: rate limited, service busy, store locked, another run holds the"
        " job; try again later"
    ),
    ExitCode.HANGUP: "stopped by SIGHUP; as for Ctrl-C, nothing is half-recorded",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C)",
    ExitCode.BROKEN_PIPE: (
        "stdout closed by its reader (head -1 in a pipeline); what was fetched is stored"
    ),
    ExitCode.TERMINATED: (
        "stopped by SIGTERM (timeout, systemd, kill); as for Ctrl-C, nothing is half-recorded"
    ),
}

ENVIRONMENT: tuple[tuple[tuple[str, ...], str], ...] = (
    (("ATTSMS_SANDBOX",), "1: use the built-in sandbox, as --sandbox."),
    (("ATTSMS_PROFILE",), "The credentials profile, as --profile."),
    (
        ("ATTSMS_CLIENT_ID", "ATTSMS_CLIENT_SECRET"),
        "Credentials for this run, overriding the stored ones.",
    ),
    (("ATTSMS_REGISTRATION_ID",), "The registration ID (short code) for this run."),
    (("ATTSMS_BASE_URL",), "The API base URL (default https://api.att.com)."),
    (("ATTSMS_REGION",), "The region numbers without a country code are read in (default US)."),
    (
        ("ATTSMS_CONFIG_DIR", "ATTSMS_CACHE_DIR", "ATTSMS_DATA_DIR"),
        "Where settings, the token cache and the stores live (see FILES).",
    ),
    (("ATTSMS_TIMEOUT",), "Seconds to wait for the answer to one request (default 30)."),
    (
        ("ATTSMS_MAX_RETRIES",),
        "How many times a request that is safe to repeat is retried (default 3; 0 to 10). A send"
        " whose outcome is unknown is never retried.",
    ),
    (
        ("ATTSMS_RATE_LIMIT_TIMEOUT",),
        "Seconds a send may stay rate limited by the service before it gives up (default 300;"
        " 0 gives up at the first rate limit).",
    ),
    (
        ("ATTSMS_DATABASE_URL",),
        "postgresql://USER@HOST:PORT/DATABASE: keep the history, inbox and opt-outs in a"
        " PostgreSQL database several hosts share, as --database-url (unset: local SQLite files)."
        " The password from PGPASSWORD, ~/.pgpass or the keyring (service attsms-database).",
    ),
    (
        ("ATTSMS_HISTORY_KEEP_DAYS", "ATTSMS_HISTORY_KEEP_BATCHES"),
        "Prune the history to this many days, or newest send requests, when it is next written"
        " (default: keep all); never the rows of a job a live run holds.",
    ),
    (
        ("ATTSMS_HOSTNAME",),
        "The host name keyed-job claims record (default: the system's); hosts sharing a"
        " database need distinct names.",
    ),
    (
        ("ATTSMS_LISTEN_TOKEN",),
        "The token in attsms listen's callback URLs (a secret; otherwise made once and kept in"
        ' the keyring, or the file store with store = "file").',
    ),
    (("ATTSMS_DEBUG",), "Print a traceback for unexpected errors, as --verbose does."),
    (("ATTSMS_SANDBOX_CLIENT_SECRET",), "The client secret attsms sandbox serve accepts."),
    (
        ("ATTSMS_SANDBOX_DIALECT",),
        "How the built-in sandbox of --sandbox answers: spec (the default) or codekit, the shapes"
        " AT&T's own SDKs parse, as sandbox serve --dialect.",
    ),
    (
        (
            "ATTSMS_MESSAGE_ID",
            "ATTSMS_FROM",
            "ATTSMS_TO",
            "ATTSMS_TEXT",
            "ATTSMS_RECEIVED_AT",
            "ATTSMS_KEYWORD",
            "ATTSMS_ATTEMPT",
        ),
        "Set by attsms, not read: what a --exec handler gets about its message (the keyword is"
        " STOP, START, HELP or empty; the attempt counts from 1).",
    ),
    (("NO_COLOR",), "No colours."),
)

# The directories of attsms.core.paths: (kind, override variable, default on Linux, on macOS).
DIRECTORIES = (
    ("config", "ATTSMS_CONFIG_DIR", "~/.config/attsms", "~/Library/Application Support/attsms"),
    ("cache", "ATTSMS_CACHE_DIR", "~/.cache/attsms", "~/Library/Caches/attsms"),
    ("data", "ATTSMS_DATA_DIR", "~/.local/share/attsms", "~/Library/Application Support/attsms"),
)

CRON = """\
First run attsms doctor --as-cron as the job's user: it checks the secret from a cron-like
environment (no D-Bus session, no display, a minimal PATH), the directories, the token, the store
and the clock, one line each with the fix, and exits 0 when the job will work.

\b
  attsms doctor --as-cron

Pull replies every minute and append them, one JSON object a line, to a file. inbox pull takes
its own lock, so an overlapping run never fetches or writes a message twice: no flock(1) needed.
Exit status 75 means try again later, which cron does anyway.

\b
  * * * * * attsms inbox pull --jsonl -q >> replies.jsonl
"""


def files() -> list[tuple[str, str]]:
    """(path, what it holds) for the files attsms keeps, asked of the code that keeps them."""
    saved = {variable: os.environ.get(variable) for _, variable, _, _ in DIRECTORIES}
    # Each path function answers under its directory's Linux default, as the man page shows it.
    os.environ.update({variable: linux for _, variable, linux, _ in DIRECTORIES})
    try:
        found = [
            (config.config_path(), "Settings per profile ([profiles.NAME]); never a secret."),
            (
                credentials.secret_file("PROFILE"),
                'The client secret (0600) of a profile saved with store = "file".',
            ),
            (tokens.TokenCache("PROFILE").path, "Cached access tokens (0600); safe to delete."),
            (inbox.store_path("PROFILE"), "Pulled replies and the opt-out list (SQLite)."),
            (sandbox_admin.sandbox_state_path(), "The built-in sandbox's state (--sandbox)."),
        ]
    finally:
        for variable, value in saved.items():
            if value is None:
                os.environ.pop(variable, None)
            else:
                os.environ[variable] = value
    return [(path.as_posix(), text) for path, text in found]


@dataclass(frozen=True)
class Page:
    """One command or group of the tree, with the context its help is rendered in."""

    path: tuple[str, ...]  # ("attsms", "sandbox", "serve")
    command: click.Command
    ctx: click.Context

    @property
    def name(self) -> str:
        return "-".join(self.path)

    @property
    def title(self) -> str:
        return " ".join(self.path)

    @property
    def summary(self) -> str:
        return self.command.get_short_help_str(limit=1000).rstrip(".")

    def subcommands(self) -> list[click.Command]:
        group = self.command
        names = group.list_commands(self.ctx) if hasattr(group, "list_commands") else []
        found = (group.get_command(self.ctx, name) for name in names)  # type: ignore[attr-defined]
        return [sub for sub in found if sub is not None and not sub.hidden]


def pages(width: int = HELP_WIDTH) -> list[Page]:
    """Every command and group, the root first, depth first, their help `width` wide."""
    root = build_command()
    ctx = root.make_context("attsms", [], resilient_parsing=True, terminal_width=width)
    return list(_walk(Page(("attsms",), root, ctx)))


def _walk(page: Page) -> Iterator[Page]:
    yield page
    for sub in page.subcommands():
        assert sub.name is not None
        ctx = sub.make_context(sub.name, [], parent=page.ctx, resilient_parsing=True)
        yield from _walk(Page((*page.path, sub.name), sub, ctx))


# roff ----------------------------------------------------------------------------------------


def roff(text: str) -> str:
    """Text safe in a roff text line: no escapes, requests or typographic quotes by accident."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    text = text.replace("'", "\\(aq").replace("`", "\\(ga")
    # groff reads its input as Latin-1: anything past ASCII goes in as a named code point.
    text = "".join(char if ord(char) < 128 else f"\\[u{ord(char):04X}]" for char in text)
    return "\n".join("\\&" + line if line.startswith(".") else line for line in text.split("\n"))


def _paragraphs(text: str) -> str:
    """click help text as roff: paragraphs refilled, `\\b` paragraphs kept line by line."""
    out = []
    for paragraph in text.strip().split("\n\n"):
        if paragraph.startswith("\b\n"):
            out.append(".nf\n" + roff(paragraph[2:]) + "\n.fi")
        else:
            out.append(roff(" ".join(paragraph.split())))
    return "\n.PP\n".join(out)


def _term(record: str) -> str:
    """`-m, --message TEXT` as bold flags and italic placeholders."""
    words = []
    for word in record.split(" "):
        comma = "," if word.endswith(",") else ""
        word = word.removesuffix(",")
        if word.startswith("-"):
            words.append(f"\\fB{roff(word)}\\fR{comma}")
        elif word == "/":
            words.append(word)
        else:
            words.append(f"\\fI{roff(word)}\\fR{comma}")
    return " ".join(words)


def _examples(epilog: str | None) -> list[str]:
    """The example lines of an `examples(...)` epilog, unindented."""
    lines = (epilog or "").splitlines()
    return [line[2:] for line in lines if line.startswith("  ")]


def _definitions(items: Sequence[tuple[str, str]]) -> list[str]:
    return [line for term, text in items for line in (".TP", term, roff(text))]


def man_page(page: Page) -> str:
    """The roff source of one page: NAME, SYNOPSIS, DESCRIPTION, ARGUMENTS, OPTIONS, EXAMPLES."""
    command, ctx = page.command, page.ctx
    lines = [
        '.\\" Generated by `python -m attsms.cli.docgen` from the command tree; do not edit.',
        f'.TH "{roff(page.name.upper())}" 1 "" "attsms {__version__}" "attsms manual"',
        ".nh\n.ad l",  # no hyphenated paths or flags, no stretched spaces
        ".SH NAME",
        f"{roff(page.name)} \\- {roff(page.summary)}",
        ".SH SYNOPSIS",
        f"\\fB{roff(page.title)}\\fR {roff(' '.join(command.collect_usage_pieces(ctx)))}",
        ".SH DESCRIPTION",
        _paragraphs(command.help or page.summary),
    ]
    for section, kind in (("ARGUMENTS", "argument"), ("OPTIONS", "option")):
        params = [p for p in command.get_params(ctx) if p.param_type_name == kind]
        records = [record for record in (p.get_help_record(ctx) for p in params) if record]
        if records:
            lines += [f".SH {section}", *_definitions([(_term(t), text) for t, text in records])]
    if len(page.path) > 1:
        lines += [".PP", "The global options \\fB\\-\\-sandbox\\fR, \\fB\\-\\-profile\\fR and"]
        lines += ["\\fB\\-\\-verbose\\fR may go before or after the command name; see"]
        lines += ["\\fBattsms\\fR(1)."]
    subcommands = page.subcommands()
    if subcommands:
        lines.append(".SH COMMANDS")
        for sub in subcommands:
            assert sub.name is not None
            see = roff("-".join((*page.path, sub.name)))
            lines += [".TP", f"\\fB{roff(sub.name)}\\fR"]
            lines.append(f"{roff(sub.get_short_help_str(limit=1000))} See \\fB{see}\\fR(1).")
    if len(page.path) == 1:
        lines += _root_sections()
    examples = _examples(command.epilog)
    if examples or len(page.path) == 1:
        lines += [".SH EXAMPLES", ".nf", ".RS 4", *map(roff, examples), ".RE", ".fi"]
    if len(page.path) == 1:
        lines += [".SS Cron", _paragraphs(CRON)]
    related = ["attsms", "-".join(page.path[:-1])] if len(page.path) > 2 else ["attsms"]
    see_also = [f"\\fB{roff(name)}\\fR(1)" for name in dict.fromkeys(related) if name != page.name]
    if see_also:
        lines += [".SH SEE ALSO", ", ".join(see_also)]
    return "\n".join(lines) + "\n"


def _root_sections() -> list[str]:
    lines = [".SH EXIT STATUS"]
    lines += _definitions([(f"\\fB{int(code)}\\fR", text) for code, text in EXIT_STATUS.items()])
    lines.append(".SH ENVIRONMENT")
    lines += _definitions(
        [(", ".join(f"\\fB{name}\\fR" for name in names), text) for names, text in ENVIRONMENT]
    )
    lines += [".SH FILES", "Paths as on Linux; each directory moves with its variable:"]
    lines += _definitions(
        [
            (f"\\fB{variable}\\fR", f"The {kind} directory: {linux} on Linux, {macos} on macOS.")
            for kind, variable, linux, macos in DIRECTORIES
        ]
    )
    lines += [".PP", "In them:"]
    lines += _definitions([(f"\\fI{roff(path)}\\fR", text) for path, text in files()])
    return lines


# completions and docs/help.md --------------------------------------------------------------


def help_markdown(all_pages: Sequence[Page]) -> str:
    parts = [
        "# attsms --help",
        "",
        "<!-- Generated by `python -m attsms.cli.docgen` from the command tree; do not edit. -->",
        "",
        "The `--help` of every command, as a terminal prints it.",
    ]
    for page in all_pages:
        text = page.command.get_help(page.ctx)
        parts += ["", f"## {page.title}", "", "```", text.replace("\b", "").rstrip(), "```"]
    return "\n".join(parts) + "\n"


def zsh_function_file(script: str) -> str:
    """The zsh script as `_attsms` in $fpath (the wheel's share/zsh/site-functions).

    compinit autoloads the file as the function `_attsms` on the first TAB: running it defines
    and binds the completer, which must then complete that TAB too. Sourced, it is the script.
    """
    return script + '\nif [[ $funcstack[1] == _attsms ]]; then _attsms_completion "$@"; fi\n'


def generated_files() -> dict[str, str]:
    """Every generated file, by path relative to the repository root."""
    all_pages = pages()
    out = {f"man/{page.name}.1": man_page(page) for page in all_pages}
    out.update({f"completions/attsms.{shell}": completion_script(shell) + "\n" for shell in SHELLS})
    out["completions/_attsms"] = zsh_function_file(completion_script("zsh"))
    out["docs/help.md"] = help_markdown(all_pages)
    out[HELP_CACHE] = help_cache()
    return out


def help_cache() -> str:
    """attsms/cli/help.json: {width: {"attsms send": what `attsms send --help` prints}}."""
    import json

    cache = {
        str(width): {page.title: page.command.get_help(page.ctx) + "\n" for page in pages(width)}
        for width in CACHED_HELP_WIDTHS
    }
    return json.dumps(cache, ensure_ascii=False, indent=0, sort_keys=True) + "\n"


def stale_files(root: Path | None = None, expected: dict[str, str] | None = None) -> list[str]:
    """Generated files that are missing or differ, and man pages of commands that are gone."""
    root = root or ROOT
    expected = generated_files() if expected is None else expected
    stale = [
        name
        for name, text in expected.items()
        if not (root / name).is_file() or (root / name).read_text(encoding="utf-8") != text
    ]
    extra = {f"man/{p.name}" for p in (root / "man").glob("*.1")} - set(expected)
    return sorted(stale) + sorted(extra)


def write(root: Path | None = None) -> list[str]:
    """Write every generated file, remove man pages of removed commands; return what changed."""
    root = root or ROOT
    expected = generated_files()
    changed = stale_files(root, expected)
    for name in changed:
        if name in expected:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(expected[name], encoding="utf-8")
        else:
            (root / name).unlink()
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args not in ([], ["--check"]):
        sys.stderr.write("usage: python -m attsms.cli.docgen [--check]\n")
        return 2
    if args == ["--check"]:
        stale = stale_files()
        for name in stale:
            sys.stderr.write(f"stale: {name}\n")
        if stale:
            sys.stderr.write("regenerate with: python -m attsms.cli.docgen\n")
        return 1 if stale else 0
    for name in write():
        sys.stderr.write(f"wrote {name}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What a user finds without reading the code: --help, man pages, completion scripts, README tables.

All of it is generated from the command tree by `attsms.cli.docgen`; these tests check that the
output
is right (it renders, completes, matches the code) and that the committed copies are fresh.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from attsms.cli import docgen
from attsms.cli.commands.context import complete_profile, complete_registration_id
from attsms.core import paths
from attsms.core.errors import ExitCode
from tests.helpers.support import Cli

ROOT = Path(__file__).resolve().parents[2]
PAGES = docgen.pages()
COMMANDS = [page.path[1:] for page in PAGES]
needs_groff = pytest.mark.skipif(shutil.which("groff") is None, reason="groff is not installed")


def _command_id(command: tuple[str, ...]) -> str:
    return " ".join(("attsms", *command))


def _render(roff_text: str) -> subprocess.CompletedProcess[str]:
    """groff's plain-text rendering, with every warning on (-ww) and no bold/underline codes."""
    return subprocess.run(
        ["groff", "-man", "-Tutf8", "-ww", "-P-cbou"],
        input=roff_text,
        capture_output=True,
        text=True,
        check=False,
    )


def _write_config(home: Path, text: str) -> None:
    (home / "config").mkdir(parents=True, exist_ok=True)
    (home / "config" / "config.toml").write_text(text)


TWO_PROFILES = """\
[profiles.work]
registration_id = "12345"

[profiles.home]
registration_id = "67890"

[profiles.spare]
registration_id = "12345"
"""


# --help ------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS, ids=_command_id)
def test_every_command_help_exits_zero_with_examples(cli: Cli, command: tuple[str, ...]) -> None:
    result = cli(*command, "--help")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"Usage: {' '.join(('attsms', *command))} ")
    assert "Examples:" in result.stdout
    examples = docgen._examples(PAGES[COMMANDS.index(command)].command.epilog)
    # An indented line continues the example before it.
    assert len([line for line in examples if not line.startswith(" ")]) >= 2


@pytest.mark.parametrize("command", COMMANDS, ids=_command_id)
def test_help_md_shows_what_a_100_column_terminal_shows(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    help_md = (ROOT / "docs" / "help.md").read_text()
    shown = cli(*command, "--help").stdout.rstrip()
    assert f"## {' '.join(('attsms', *command))}\n\n```\n{shown}\n```\n" in help_md


# man pages ---------------------------------------------------------------------------------


@needs_groff
@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_man_page_renders_without_warnings_and_lists_every_option(page: docgen.Page) -> None:
    rendered = _render(docgen.man_page(page))
    assert rendered.returncode == 0
    assert rendered.stderr == ""
    text = rendered.stdout
    assert "NAME" in text
    assert f"{page.name} - " in text
    assert f"SYNOPSIS\n       {page.title} " in text
    for param in page.command.get_params(page.ctx):
        if getattr(param, "hidden", False):  # the global options a command also accepts
            continue
        for flag in [*param.opts, *param.secondary_opts]:
            if flag.startswith("-"):
                assert re.search(rf"(^|[\s,/]){re.escape(flag)}\b", text), (page.name, flag)
    for example in docgen._examples(page.command.epilog):
        assert example in text


@needs_groff
def test_attsms_1_documents_exit_status_environment_files_and_cron() -> None:
    text = _render(docgen.man_page(PAGES[0])).stdout
    sections = re.findall(r"^([A-Z][A-Z ]+)$", text, flags=re.MULTILINE)
    assert sections == [
        "NAME",
        "SYNOPSIS",
        "DESCRIPTION",
        "OPTIONS",
        "COMMANDS",
        "EXIT STATUS",
        "ENVIRONMENT",
        "FILES",
        "EXAMPLES",
    ]
    exit_status = text.split("EXIT STATUS")[1].split("ENVIRONMENT")[0]
    assert [int(code) for code in re.findall(r"^ {7}(\d+) ", exit_status, re.MULTILINE)] == list(
        ExitCode
    )
    for names, _ in docgen.ENVIRONMENT:
        assert all(name in text for name in names)
    assert "~/.config/attsms/config.toml" in text
    assert "~/.cache/attsms/tokens/PROFILE.json" in text
    assert "* * * * * attsms inbox pull --jsonl -q >> replies.jsonl" in text
    assert "no flock(1) needed" in text
    for page in PAGES[1:]:
        if len(page.path) == 2:
            assert f"{page.name}(1)" in text


@needs_groff
@pytest.mark.parametrize(
    "text",
    [
        '.TH evil 1\n\'br\n\\fBbold\\fR -- `tick` "quoted"',
        "a\\\\b\\-c \\(aq .SH NOT A HEADING",
        "attsms send -m 'Sale ends tonight ☺ — café, 𝄞'",
        "ATTSMS_BASE_URL=http://127.0.0.1:8765 \\\n  attsms send --json",
    ],
)
def test_roff_escaping_renders_text_as_written(text: str) -> None:
    page = f'.TH "T" 1\n.SH NAME\nt\n.nf\n{docgen.roff(text)}\n.fi\n'
    rendered = _render(page)
    assert rendered.stderr == ""
    for line in text.splitlines():
        assert line in rendered.stdout


@given(st.text(alphabet=st.characters(exclude_categories=["Cc", "Cs"]) | st.just("\n")))
def test_roff_escaping_leaves_no_request_or_stray_escape(text: str) -> None:
    escaped = docgen.roff(text)
    for line in escaped.split("\n"):
        assert not line.startswith((".", "'"))
    # Every backslash starts one of the escapes roff() writes, so none is read as user input.
    assert re.sub(r"\\(e|-|&|\(aq|\(ga|\[u[0-9A-F]{4,6}\])", "", escaped).count("\\") == 0
    assert escaped.isascii()
    assert "'" not in escaped
    assert "`" not in escaped


# completion --------------------------------------------------------------------------------


def _bash_complete(tmp_path: Path, words: list[str]) -> list[str]:
    """What bash offers for `words` (the last one being completed) with the script loaded."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    shim = bin_dir / "attsms"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m attsms "$@"\n')
    shim.chmod(0o755)
    quoted = " ".join(f"'{word}'" for word in words)
    script = (
        f"source '{ROOT / 'completions' / 'attsms.bash'}'\n"
        "complete -p attsms\n"
        f"COMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}\n"
        "_attsms_completion attsms\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", script],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    registered, *offered = done.stdout.splitlines()
    assert registered == "complete -o default -F _attsms_completion attsms"
    return offered


def test_bash_offers_commands_subcommands_and_flags(tmp_path: Path) -> None:
    assert {"send", "status", "sandbox", "completion"} <= set(
        _bash_complete(tmp_path, ["attsms", ""])
    )
    assert _bash_complete(tmp_path, ["attsms", "st"]) == ["status", "store"]
    assert {"serve", "inject", "outbox", "open", "reset"} == set(
        _bash_complete(tmp_path, ["attsms", "sandbox", ""])
    )
    assert "--message" in _bash_complete(tmp_path, ["attsms", "send", "--me"])
    assert _bash_complete(tmp_path, ["attsms", "--sand"]) == ["--sandbox"]


def test_bash_completes_profile_names_from_the_config(tmp_path: Path, isolated_home: Path) -> None:
    _write_config(isolated_home, TWO_PROFILES)
    assert _bash_complete(tmp_path, ["attsms", "--profile", ""]) == ["work", "home", "spare"]
    assert _bash_complete(tmp_path, ["attsms", "-p", "h"]) == ["home"]


@pytest.mark.parametrize("config", [None, "not [valid toml", "profiles = 3\n", b"\xff\xfe\x00"])
def test_profile_completion_survives_a_missing_or_broken_config(
    isolated_home: Path, config: str | bytes | None
) -> None:
    if config is not None:
        (isolated_home / "config").mkdir(parents=True)
        path = isolated_home / "config" / "config.toml"
        path.write_bytes(config if isinstance(config, bytes) else config.encode())
    assert complete_profile("") == []
    assert complete_registration_id("") == []


def test_registration_ids_complete_once_each_with_their_profile(isolated_home: Path) -> None:
    _write_config(isolated_home, TWO_PROFILES)
    assert complete_registration_id("") == [("12345", "profile work"), ("67890", "profile home")]
    assert complete_registration_id("6") == [("67890", "profile home")]
    assert complete_profile("w") == [("work", "registration ID 12345")]


@pytest.mark.parametrize("shell", docgen.SHELLS)
def test_completion_command_prints_the_committed_script_typer_would_source(
    cli: Cli, shell: str
) -> None:
    printed = cli("completion", shell)
    assert printed.exit_code == 0
    assert printed.stdout == (ROOT / "completions" / f"attsms.{shell}").read_text()
    sourced = cli.process(env={"_ATTSMS_COMPLETE": f"source_{shell}"})
    assert sourced.exit_code == 0
    assert sourced.stdout.strip() == printed.stdout.strip()


def test_completion_command_json_and_bad_shell(cli: Cli) -> None:
    document = cli("completion", "fish", "--json").json()
    assert document["shell"] == "fish"
    assert "complete --command attsms" in document["script"]
    wrong = cli("completion", "tcsh")
    assert wrong.exit_code == 2
    assert "tcsh" in wrong.stderr
    assert wrong.stdout == ""


def test_zsh_and_fish_protocols_offer_commands_and_flags_without_loading_rich(cli: Cli) -> None:
    zsh = cli.process(env={"_ATTSMS_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": "attsms se"})
    assert zsh.stdout.startswith("_arguments ")
    assert '"send":"Send an SMS' in zsh.stdout
    fish = cli.process(
        env={
            "_ATTSMS_COMPLETE": "complete_fish",
            "_TYPER_COMPLETE_FISH_ACTION": "get-args",
            "_TYPER_COMPLETE_ARGS": "attsms send --me",
        }
    )
    assert "--message\tThe text to send." in fish.stdout.splitlines()
    script = (
        "import os, sys\n"
        "os.environ.update(_ATTSMS_COMPLETE='complete_zsh', _TYPER_COMPLETE_ARGS='attsms ')\n"
        "from attsms.cli.main import main\n"
        "try:\n    main([])\nexcept SystemExit:\n    pass\n"
        "sys.stderr.write(' '.join(sorted(sys.modules)))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stderr.split()
    assert not {"rich", "httpx", "keyring"} & set(loaded)


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_fish_loads_the_script_and_completes(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "attsms").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m attsms "$@"\n')
    (bin_dir / "attsms").chmod(0o755)
    script = f"source '{ROOT / 'completions' / 'attsms.fish'}'; complete -C'attsms sandbox '"
    done = subprocess.run(
        ["fish", "--no-config", "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"},
        check=False,
    )
    assert {line.split("\t")[0] for line in done.stdout.splitlines()} == {
        "serve",
        "inject",
        "reset",
    }


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_script_parses() -> None:
    done = subprocess.run(
        ["zsh", "-n", str(ROOT / "completions" / "attsms.zsh")], capture_output=True, text=True
    )
    assert (done.returncode, done.stderr) == (0, "")


# generated files ---------------------------------------------------------------------------


def test_committed_docs_man_pages_and_completions_are_fresh() -> None:
    stale = docgen.stale_files()
    assert stale == [], f"run `python -m attsms.cli.docgen` to regenerate: {stale}"


def test_check_lists_stale_missing_and_orphaned_files_then_write_fixes_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(docgen, "ROOT", tmp_path)
    assert docgen.main(["--check"]) == 1  # nothing written yet
    assert docgen.main([]) == 0
    assert docgen.main(["--check"]) == 0
    (tmp_path / "man" / "attsms-send.1").write_text("old\n")
    (tmp_path / "completions" / "attsms.zsh").unlink()
    (tmp_path / "man" / "attsms-gone.1").write_text("a removed command\n")
    capsys.readouterr()
    assert docgen.main(["--check"]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "stale: completions/attsms.zsh",
        "stale: man/attsms-send.1",
        "stale: man/attsms-gone.1",
        "regenerate with: python -m attsms.cli.docgen",
    ]
    assert docgen.main([]) == 0
    assert not (tmp_path / "man" / "attsms-gone.1").exists()
    assert docgen.main(["--check"]) == 0
    assert docgen.main(["--bogus"]) == 2


def test_docgen_check_runs_as_ci_runs_it() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "attsms.cli.docgen", "--check"], capture_output=True, text=True
    )
    assert (done.returncode, done.stderr) == (0, "")


# the tables README and the man page share --------------------------------------------------


def _readme_table(heading: str) -> list[list[str]]:
    section = (ROOT / "README.md").read_text().split(f"\n## {heading}\n", 1)[1].split("\n## ")[0]
    rows = [line for line in section.splitlines() if line.startswith("|")][2:]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


def test_readme_exit_codes_match_exit_code_enum_and_man_page() -> None:
    readme = {int(code): meaning for code, meaning in _readme_table("Scripts and exit codes")}
    assert set(readme) == {int(code) for code in ExitCode}
    assert readme == {int(code): meaning for code, meaning in docgen.EXIT_STATUS.items()}


def test_readme_environment_lists_the_variables_the_man_page_lists() -> None:
    readme = {n for names, _ in _readme_table("Environment") for n in re.findall(r"`(\w+)`", names)}
    assert readme == {name for names, _ in docgen.ENVIRONMENT for name in names}


def test_every_variable_the_code_reads_is_documented() -> None:
    documented = {name for names, _ in docgen.ENVIRONMENT for name in names}
    used = set()
    for source in (ROOT / "attsms").rglob("*.py"):
        if source.name != "docgen.py":
            used |= set(re.findall(r"(?<![A-Za-z0-9_])ATTSMS_[A-Z0-9_]+", source.read_text()))
    assert used - documented == set()


def test_files_section_follows_paths_and_leaves_the_environment_alone(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    before = dict(os.environ)
    listed = dict(docgen.files())
    assert dict(os.environ) == before
    assert "~/.config/attsms/config.toml" in listed
    assert "~/.local/share/attsms/sandbox/state.db" in listed
    functions = {"config": paths.config_dir, "cache": paths.cache_dir, "data": paths.data_dir}
    for kind, variable, linux, _ in docgen.DIRECTORIES:
        monkeypatch.setenv(variable, str(tmp_path / kind))
        assert functions[kind]() == tmp_path / kind
        if sys.platform.startswith("linux"):
            monkeypatch.delenv(variable)
            monkeypatch.setenv("HOME", str(tmp_path))
            for xdg in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME"):
                monkeypatch.delenv(xdg, raising=False)
            assert functions[kind]() == Path(linux.replace("~", str(tmp_path)))


# the command registry ----------------------------------------------------------------------


def test_generated_docs_do_not_depend_on_what_ran_before_in_the_process() -> None:
    # Commands once joined the app in the order they were first run, so the help (and the
    # docs made from it) changed after an in-process `status --help`.
    script = (
        "import io, sys\n"
        "from attsms.cli import docgen\n"
        "from attsms.cli.main import main\n"
        "sys.stdout = io.StringIO()\n"
        "main(['status', '--help'])\n"
        "main(['sandbox', 'inject', '--help'])\n"
        "sys.stdout = sys.__stdout__\n"
        "print(docgen.stale_files())\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert (done.returncode, done.stdout, done.stderr) == (0, "[]\n", "")


def test_help_lists_the_commands_in_the_registry_order(cli: Cli) -> None:
    from attsms.cli.app import COMMANDS

    cli("inbox", "list", "--help")  # loads one group first
    text = cli("--help").stdout
    listed = text.split("Commands:\n")[1].split("\n\n")[0].splitlines()
    assert [line.split()[0] for line in listed] == list(COMMANDS)


def test_completion_and_context_import_without_the_app() -> None:
    script = (
        "import sys\n"
        "import attsms.cli.commands.completion, attsms.cli.commands.context\n"
        "print('attsms.cli.app' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (0, "False\n")


def test_state_is_still_importable_from_app() -> None:
    # The command modules import it from there until they switch to commands.context.
    from attsms.cli.app import AppState, state
    from attsms.cli.commands import context

    assert (AppState, state) == (context.AppState, context.state)

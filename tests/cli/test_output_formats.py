"""One output format per run, chosen by one flag: `--json` or `--jsonl`, never both."""

from __future__ import annotations

import pytest

from attsms.cli.app import COMMANDS, build_command
from attsms.core.errors import ExitCode
from tests.helpers.support import Cli


@pytest.mark.parametrize(
    "argv",
    [
        ["--sandbox", "optout", "list", "--json", "--jsonl"],
        ["--sandbox", "inbox", "list", "--jsonl", "--json"],
        ["--sandbox", "inbox", "pull", "--json", "--jsonl"],
    ],
)
def test_two_formats_at_once_are_refused_in_one_line(cli: Cli, argv: list[str]) -> None:
    result = cli(*argv)
    assert result.exit_code == ExitCode.USAGE
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "give one output format" in lines[0], result.stderr
    assert result.stdout == ""


def test_the_same_flag_twice_is_one_format(cli: Cli) -> None:
    result = cli("--sandbox", "optout", "list", "--json", "--json")
    assert (result.exit_code, result.stdout.strip()) == (0, "[]")


def test_every_command_that_prints_data_offers_json() -> None:
    """--json everywhere data is printed (listen and completion's script aside: lines, a script)."""
    from typer import _click as click

    root = build_command()
    ctx = click.Context(root)
    missing = []

    def walk(command: click.Command, path: str) -> None:
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for name in subcommands:
                walk(subcommands[name], f"{path} {name}")
            return
        flags = {opt for param in command.params for opt in param.opts}
        if not flags & {"--json", "--jsonl"}:
            missing.append(path)

    for name in COMMANDS:
        command = root.get_command(ctx, name)  # type: ignore[attr-defined]
        walk(command, name)
    assert missing == ["sandbox serve"]  # a server: it prints no data

"""`attsms completion SHELL`: print a shell completion script; and the hook that answers its TABs.

The scripts are Typer's own, the ones `_ATTSMS_COMPLETE=source_bash attsms` prints: on each TAB the
shell runs attsms with `_ATTSMS_COMPLETE=complete_bash` (or `_zsh`, `_fish`) and click answers from
the live command tree, so new commands and flags complete without regenerating anything.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from attsms.cli.commands.context import state
from attsms.cli.commands.options import examples, formats
from attsms.cli.output import Format

PROG_NAME = "attsms"
COMPLETE_VAR = "_ATTSMS_COMPLETE"


class Shell(StrEnum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"


EPILOG = examples(
    "attsms completion bash > ~/.local/share/bash-completion/completions/attsms",
    "attsms completion zsh > ~/.attsms.zsh   # source it in .zshrc, after compinit",
    "attsms completion fish > ~/.config/fish/completions/attsms.fish",
)


@formats(Format.JSON)
def completion(
    ctx: typer.Context,
    shell: Annotated[Shell, typer.Argument(metavar="SHELL", help="bash, zsh or fish.")],
) -> None:
    """Print the completion script for bash, zsh or fish."""
    out = state(ctx).output()
    script = completion_script(shell.value)
    if out.format is Format.JSON:
        out.json({"shell": shell.value, "script": script})
    else:
        out.text(script)


def completion_script(shell: str) -> str:
    """The script that makes `shell` complete attsms (Typer's template for that shell)."""
    from typer._completion_shared import get_completion_script

    return get_completion_script(prog_name=PROG_NAME, complete_var=COMPLETE_VAR, shell=shell)


def enable_shell_completion() -> None:
    """Answer `_ATTSMS_COMPLETE=complete_SHELL` requests with Typer's completion classes.

    `add_completion=False` keeps `--install-completion` out of the help, and with it the
    registration of Typer's classes (the protocol the scripts above speak); app.build_command
    calls this instead, only when a shell is asking.
    """
    from typer import _completion_classes

    _completion_classes.completion_init()
    # Typer passes each zsh/fish hint through rich to strip markup; this app's help has none
    # (rich_markup_mode=None), and loading rich would add ~200 ms to every TAB.
    _completion_classes._sanitize_help_text = _unchanged


def _unchanged(text: str) -> str:
    return text

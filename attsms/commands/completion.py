"""`attsms completion SHELL`: print a shell completion script; and completers fed by the config.

The scripts are Typer's own, the ones `_ATTSMS_COMPLETE=source_bash attsms` prints: on each TAB the
shell runs attsms with `_ATTSMS_COMPLETE=complete_bash` (or `_zsh`, `_fish`) and click answers from
the live command tree, so new commands and flags complete without regenerating anything.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from attsms.commands.options import Json, examples

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


def completion(
    ctx: typer.Context,
    shell: Annotated[Shell, typer.Argument(metavar="SHELL", help="bash, zsh or fish.")],
    json: Json = False,
) -> None:
    """Print the completion script for bash, zsh or fish."""
    from attsms.app import state

    out = state(ctx).output(json=json)
    script = completion_script(shell.value)
    if json:
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


def complete_profile(incomplete: str) -> list[tuple[str, str]]:
    """Profile names from the config, each with its registration ID as the hint."""
    return [
        (name, f"registration ID {registration_id}" if registration_id else "profile")
        for name, registration_id in configured_profiles().items()
        if name.startswith(incomplete)
    ]


def complete_registration_id(incomplete: str) -> list[tuple[str, str]]:
    """Registration IDs (short codes) from the config, each with its profile as the hint."""
    choices: dict[str, str] = {}
    for name, registration_id in configured_profiles().items():
        if registration_id and registration_id.startswith(incomplete):
            choices.setdefault(registration_id, f"profile {name}")
    return list(choices.items())


def configured_profiles() -> dict[str, str | None]:
    """{profile name: its registration ID or None}, from config.toml.

    A TAB must never print an error into the user's command line, so a missing, unreadable or
    malformed config simply completes nothing.
    """
    from attsms.config import load_config
    from attsms.errors import AttsmsError

    try:
        profiles = load_config().profiles
    except (AttsmsError, OSError, ValueError):
        return {}
    return {name: profile.registration_id or None for name, profile in profiles.items()}

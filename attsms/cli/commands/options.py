"""Options shared by many commands, declared once."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:
    from attsms.cli.output import Format

F = TypeVar("F", bound=Callable[..., Any])


def formats(*offered: Format) -> Callable[[F], F]:
    """Declare the output formats a command offers beyond its table and plain lines: the
    registry gives it their flags (`--json`, `--jsonl`; output.FORMAT_FLAGS), and the one chosen
    reaches the command as `state(ctx).output()`'s format. Put it below `@app.command`."""

    def mark(command: F) -> F:
        command.output_formats = offered  # type: ignore[attr-defined]
        return command

    return mark


Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or summary on stderr.")]


def examples(*lines: str) -> str:
    """An 'Examples:' epilog that click prints as written (the \\b stops it rewrapping)."""
    return "Examples:\n\n\b\n" + "\n".join(f"  {line}" for line in lines)


def not_nan(value: float | None) -> float | None:
    """Callback for float options: click's FloatRange lets NaN through any bound."""
    if value is not None and value != value:  # NaN is the one float unequal to itself
        raise typer.BadParameter(f"{value} is not a number")
    return value


Wait = Annotated[
    bool, typer.Option("--wait", help="Poll until every recipient is delivered or failed.")
]
WaitTimeout = Annotated[
    float | None,
    typer.Option(
        min=0.0,
        metavar="S",
        callback=not_nan,
        help="With --wait: stop waiting after S seconds (exit 75).  [default: 300]",
    ),
]


def lock_timeout(help: str) -> Any:  # typer.Option is typed Any
    """`--lock-timeout SECONDS`: how long to wait for another run that holds what this one needs
    (an inbox pull, a keyed send job), then exit 75."""
    return typer.Option("--lock-timeout", min=0.0, metavar="SECONDS", callback=not_nan, help=help)


# Where a server (`listen`, `sandbox serve`) listens; each command gives its own default port.
Host = Annotated[str, typer.Option(help="Address to listen on.")]
Port = Annotated[int, typer.Option(min=0, max=65535, help="Port; 0 picks a free one.")]


# `--exec CMD` and its rules: `inbox pull`, `inbox handle`, `listen` (attsms.receive.handler).
def exec_option(help: str) -> Any:  # typer.Option is typed Any
    return typer.Option("--exec", metavar="CMD", help=help)


ExecTimeout = Annotated[
    float,
    typer.Option(
        min=0.001,
        metavar="SECONDS",
        callback=not_nan,
        help="With --exec: a handler still running after this long is stopped; a failure.",
    ),
]
MaxAttempts = Annotated[
    int,
    typer.Option(
        min=1,
        metavar="N",
        help="With --exec: after N failed attempts a message is a dead letter (exit 4).",
    ),
]
Backoff = Annotated[
    float,
    typer.Option(
        min=0.0,
        metavar="SECONDS",
        callback=not_nan,
        help="With --exec: wait this long before retrying a failed message, doubled after each"
        " failure (at most 1 h); it is retried on a later run.",
    ),
]

"""Options shared by many commands, declared once."""

from __future__ import annotations

from typing import Annotated

import typer

Json = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
JsonLines = Annotated[
    bool, typer.Option("--jsonl", help="Print one JSON object a line, as results come.")
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or summary on stderr.")]


def examples(*lines: str) -> str:
    """An 'Examples:' epilog that click prints as written (the \\b stops it rewrapping)."""
    return "Examples:\n\n\b\n" + "\n".join(f"  {line}" for line in lines)

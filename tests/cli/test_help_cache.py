"""`--help` answered from the cache docgen writes (attsms/cli/help.json): exactly what Typer
prints, at each cached width, for every command; anything the cache does not hold is Typer's."""

from __future__ import annotations

import pytest

from attsms.cli import docgen
from attsms.cli.main import _run, cached_help, help_width

PAGES = [page.title for page in docgen.pages()]


def _typer_help(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert _run(args) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("columns", [80, 100, 160])
@pytest.mark.parametrize("title", PAGES)
def test_the_cached_help_is_what_typer_prints(
    title: str, columns: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    args = [*title.split()[1:], "--help"]
    cached = cached_help(args)
    assert cached is not None
    assert cached == _typer_help(args, capsys)
    assert cached_help([*args[:-1], "-h"]) == cached


@pytest.mark.parametrize(
    ("args", "columns"),
    [
        (["send", "--help"], 90),  # a width the cache does not hold
        (["send", "--help"], 60),
        (["--sandbox", "send", "--help"], 100),  # an option before it: Typer reads it
        (["nosuch", "--help"], 100),  # Typer says what is wrong
        (["send"], 100),
        ([], 100),
    ],
)
def test_what_the_cache_does_not_hold_goes_to_typer(
    args: list[str], columns: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    assert cached_help(args) is None


def test_the_width_is_found_as_click_finds_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    for columns in ("", "0", "abc", "79", "80", "99", "100", "250"):
        monkeypatch.setenv("COLUMNS", columns)
        click = max(min(shutil.get_terminal_size().columns, 100) - 2, 50)
        assert help_width() == click, columns

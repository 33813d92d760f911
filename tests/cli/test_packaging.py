"""`python -m build` makes a clean sdist and a wheel that installs the man pages and completions.

Built once for the module, from a copy of the work tree (so a build never writes into the
checkout others are testing in), with the venv's own build tools: no network.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from attsms import __version__
from attsms.cli import docgen

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow
# Not copied: what no build should see, and caches that are only large.
_NOT_COPIED = (".git", ".venv", ".mypy_cache", ".ruff_cache", ".hypothesis", ".pytest_cache")
SHARE = {
    "share/man/man1": sorted(path.name for path in (ROOT / "man").glob("*.1")),
    "share/bash-completion/completions": ["attsms.bash"],
    "share/zsh/site-functions": ["_attsms"],
    "share/fish/vendor_completions.d": ["attsms.fish"],
}


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source") / "attsms"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*_NOT_COPIED, "dist", "build"))
    # Junk a careless sdist would take along: a virtualenv and compiled files.
    (source / ".venv" / "lib").mkdir(parents=True)
    (source / ".venv" / "lib" / "junk.py").write_text("")
    (source / "attsms" / "__pycache__").mkdir(exist_ok=True)
    (source / "attsms" / "__pycache__" / "junk.cpython-311.pyc").write_bytes(b"")
    (source / "tests" / "__pycache__").mkdir(exist_ok=True)
    (source / "tests" / "__pycache__" / "junk.cpython-311.pyc").write_bytes(b"")
    out = source / "dist"
    done = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


def _one(dist: Path, pattern: str) -> Path:
    [found] = dist.glob(pattern)
    return found


def test_sdist_holds_the_sources_docs_and_generated_files_and_no_junk(dist: Path) -> None:
    sdist = _one(dist, f"attsms-{__version__}.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {"pyproject.toml", "README.md", "attsms/cli/main.py", "attsms/py.typed"} <= names
    assert {"attsms/sandbox/server.py", "man/attsms-send.1", "completions/_attsms"} <= names
    assert {"docs/architecture.md", "tests/conftest.py", "benchmarks/startup.py"} <= names
    junk = [
        name
        for name in names
        if name.startswith((".venv", "dist/", "build/"))
        or "__pycache__" in name
        or name.endswith(".pyc")
    ]
    assert junk == []


def test_wheel_carries_man_pages_and_completions_as_data(dist: Path) -> None:
    wheel = _one(dist, f"attsms-{__version__}-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    data = f"attsms-{__version__}.data/data"
    for directory, files in SHARE.items():
        assert {f"{data}/{directory}/{name}" for name in files} <= names
    assert {"attsms/py.typed", "attsms/cli/help.json"} <= names
    page = {"index.html", "app.js", "app.css"}  # what `sandbox serve` serves at /
    assert {f"attsms/sandbox/page/{name}" for name in page} <= names
    assert not [name for name in names if "__pycache__" in name or name.startswith("tests/")]


@pytest.fixture(scope="module")
def venv(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed offline; its dependencies are this venv's."""
    target = tmp_path_factory.mktemp("venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(target)], check=True)
    wheel = _one(dist, "*.whl")
    python = target / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python)]
    subprocess.run(
        [*pip, "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
    )
    # The dependencies (typer, httpx, …) from this venv, after the wheel's own attsms.
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    ours = subprocess.run(
        [sys.executable, "-c", "import typer, os; print(os.path.dirname(typer.__path__[0]))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(site) / "_test_dependencies.pth").write_text(ours + "\n")
    return target


def test_installed_wheel_runs_from_its_own_copy(venv: Path) -> None:
    attsms = venv / "bin" / "attsms"
    version = subprocess.run([str(attsms), "--version"], capture_output=True, text=True)
    assert (version.returncode, version.stdout) == (0, f"attsms {__version__}\n")
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import attsms; print(attsms.__file__)"],
        capture_output=True,
        text=True,
        cwd=venv,
    )
    assert where.stdout.startswith(str(venv)), where.stdout + where.stderr
    helped = subprocess.run(
        [str(attsms), "send", "--help"], capture_output=True, text=True, env=_columns(80)
    )
    assert helped.returncode == 0, helped.stderr
    # Answered from the wheel's own help cache, without loading Typer.
    assert (
        helped.stdout
        == json.loads((Path(where.stdout.strip()).parent / "cli" / "help.json").read_text())["78"][
            "attsms send"
        ]
    )
    quick = subprocess.run(
        [str(venv / "bin" / "python"), "-X", "importtime", str(attsms), "--help"],
        capture_output=True,
        text=True,
        env=_columns(80),
    )
    assert quick.returncode == 0 and " typer" not in quick.stderr, quick.stderr[-2000:]


def _columns(columns: int) -> dict[str, str]:
    return {**os.environ, "COLUMNS": str(columns)}


def test_installed_files_are_the_generated_ones(venv: Path) -> None:
    generated = docgen.generated_files()
    for directory, files in SHARE.items():
        installed = sorted(path.name for path in (venv / directory).iterdir())
        assert installed == files
    assert (venv / "share/zsh/site-functions/_attsms").read_text() == generated[
        "completions/_attsms"
    ]
    assert (venv / "share/man/man1/attsms-send.1").read_text() == generated["man/attsms-send.1"]


@pytest.mark.skipif(shutil.which("man") is None, reason="man is not installed")
def test_man_finds_and_renders_the_installed_page(venv: Path) -> None:
    env = {**os.environ, "MANPAGER": "cat", "PAGER": "cat", "MANWIDTH": "100", "LC_ALL": "C.UTF-8"}
    done = subprocess.run(
        ["man", "-M", str(venv / "share" / "man"), "attsms-send"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "attsms-send - Send an SMS" in done.stdout
    assert "--message" in done.stdout

"""Files: atomic, private writes (a reader sees the old file or the new one, never half of
either), and the user's input files opened with their failures told in one line."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from attsms.core.errors import AttsmsError, UsageError
from attsms.core.paths import ensure_private_dir


def write_private_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` with mode 0600 via a temp file, fsync and rename."""
    ensure_private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp already creates 0600; fchmod guards against an unusual umask or platform.
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        Path(tmp).replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            Path(tmp).unlink()
        raise
    _fsync_dir(path.parent)


def check_writable_dir(path: Path) -> None:
    """Create `path` (0700) and prove a byte can be written in it: read-only and full disks, and a
    file where a directory should be, raise OSError here rather than half-way through a change."""
    ensure_private_dir(path)
    with tempfile.TemporaryFile(dir=path) as probe:
        probe.write(b"\0")
        probe.flush()
        os.fsync(probe.fileno())


def _fsync_dir(path: Path) -> None:
    # The rename is durable only once the directory entry is; not every platform allows this.
    with contextlib.suppress(OSError):
        dfd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


@contextlib.contextmanager
def temp_file_errors(what: str) -> Iterator[None]:
    """OSError writing a temporary file (a full or read-only TMPDIR) as one line, exit 1."""
    try:
        yield
    except OSError as error:
        where = tempfile.gettempdir()
        raise AttsmsError(
            f"cannot write {what} to a temporary file in {where}: {error.strerror or error}",
            hint="free some space there, or set TMPDIR to a directory with room",
        ) from None


def open_input(name: str, what: str) -> IO[bytes]:
    """The user's file `name` (`what` it is, e.g. "message file") open for reading bytes. Each
    way it cannot be opened is one line naming it (`UsageError`, exit 2): an empty name, not
    found, a directory, or any other OSError in the system's words (permission denied, a loop of
    links, a file where a directory should be)."""
    if not name:  # Path("") is the current directory
        raise UsageError(f"the {what} name is empty", hint="give a file, or - for stdin")
    with input_file_errors(name, what):
        return Path(name).open("rb")


@contextlib.contextmanager
def input_file_errors(name: str, what: str) -> Iterator[None]:
    """OSError opening or reading the user's file `name` as one line (see `open_input`)."""
    try:
        yield
    except FileNotFoundError:
        raise UsageError(f"{what} not found: {name}") from None
    except IsADirectoryError:
        raise UsageError(f"{what} {name} is a directory", hint="give a text file") from None
    except OSError as error:
        raise UsageError(f"cannot read the {what} {name}: {error.strerror or error}") from None

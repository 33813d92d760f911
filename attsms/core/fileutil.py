"""Atomic, private file writes: a reader sees the old file or the new one, never half of either."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from attsms.core.errors import AttsmsError
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

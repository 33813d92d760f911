"""Where attsms keeps its files.

Settings go under the platform config dir, the token cache under the cache dir, and stores the user
must not lose (history, inbox, sandbox state) under the data dir. `ATTSMS_CONFIG_DIR`,
`ATTSMS_CACHE_DIR` and `ATTSMS_DATA_DIR` override each, for tests, containers and cron.
Directories are created 0700: they hold tokens and message text.
"""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "attsms"


def _dir(env: str, kind: str) -> Path:
    override = os.environ.get(env)
    if override:
        return Path(override)
    import platformdirs  # light, but only needed when a path is asked for

    return Path(getattr(platformdirs, f"user_{kind}_dir")(APP_NAME, appauthor=False))


def config_dir() -> Path:
    return _dir("ATTSMS_CONFIG_DIR", "config")


def cache_dir() -> Path:
    return _dir("ATTSMS_CACHE_DIR", "cache")


def data_dir() -> Path:
    return _dir("ATTSMS_DATA_DIR", "data")


def disk_full(path: Path) -> bool:
    """True when the file system holding `path` (or its nearest existing parent) is out of room:
    what SQLite reports as a bare "disk I/O error" when it cannot grow a file."""
    import shutil

    for candidate in (path, *path.parents):
        try:
            return shutil.disk_usage(candidate).free < 64 * 1024
        except OSError:
            continue
    return False


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (and parents) readable by the owner only; tighten it if it exists."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)
    return path

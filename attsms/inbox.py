"""Moved to `attsms.store.inbox` (the store layer); this name stays for older imports."""

from __future__ import annotations

from attsms.session import LocalProfile as LocalProfile  # moved there
from attsms.store.inbox import *  # noqa: F403
from attsms.store.inbox import _file_part as _file_part
from attsms.store.inbox import _letters_and_digits as _letters_and_digits

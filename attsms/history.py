"""Moved to `attsms.store.history` (the store layer); this name stays for older imports."""

from __future__ import annotations

import time  # noqa: F401  (tests patch `attsms.history.time.time`)

from attsms.store.history import *  # noqa: F403

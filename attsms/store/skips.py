"""The recipients a send left out (opted out, or held by quiet hours), which no batch row
records: noted by the run (`record_skips`) and counted by `attsms report` (`skip_counts`).
`Skips`' methods are `HistoryStore`'s."""

from __future__ import annotations

import contextlib
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from attsms.store.base import Connection, Database


class Skips(ABC):
    """The skip-noting methods of `HistoryStore`."""

    _db: Database

    @abstractmethod
    def _read(self) -> contextlib.AbstractContextManager[Connection]:
        """A read of the store (`HistoryStore._read`)."""

    def record_skips(
        self,
        run_id: str,
        *,
        profile: str,
        account: str,
        key: str | None,
        skipped: Sequence[tuple[str, str]],
    ) -> None:
        """Note the recipients a run left out, (address, reason: `opted-out` or `deferred`), for
        `attsms report`. Not waited on the disk for: a power cut may lose the note, never a
        promise (nothing is sent or refused by it)."""
        if not skipped:
            return
        now = time.time()
        rows = [(run_id, profile, account, key, a, reason, now) for a, reason in skipped]
        with self._db.write(serialize=False, durable=False) as db:
            db.executemany(
                "INSERT INTO skips (run_id, profile, account, dedupe_key, address, reason,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def skip_counts(
        self,
        profile: str,
        batch_ids: Sequence[int],
        key: str | None,
        window: tuple[float | None, float | None] | None = None,
    ) -> dict[str, int]:
        """How many recipients were left out, by reason: of the keyed job `key` (each address
        once, its last reason, and not one a later run of the job sent to), else those noted in
        `window` (epoch [since, until)), else those of the runs of `batch_ids`."""
        with self._read() as db:
            if key is not None:
                rows = db.execute(SKIPS_OF_JOB, (profile, key)).fetchall()
            elif window is not None:
                since, until = window
                rows = db.execute(
                    "SELECT reason, COUNT(*) FROM skips WHERE profile = ? AND created_at >= ?"
                    " AND created_at < ? GROUP BY reason",
                    (profile, since or 0.0, until if until is not None else 1e18),
                ).fetchall()
            else:
                runs = sorted(self._runs_of(db, batch_ids))
                rows = []
                for start in range(0, len(runs), 500):
                    chunk = runs[start : start + 500]
                    marks = ", ".join("?" * len(chunk))
                    rows += db.execute(
                        f"SELECT reason, COUNT(*) FROM skips WHERE run_id IN ({marks})"  # noqa: S608
                        " GROUP BY reason",
                        chunk,
                    ).fetchall()
        counts: dict[str, int] = {}
        for reason, count in rows:
            counts[str(reason)] = counts.get(str(reason), 0) + int(count)
        return counts

    @staticmethod
    def _runs_of(db: Connection, batch_ids: Sequence[int]) -> set[str]:
        runs: set[str] = set()
        for start in range(0, len(batch_ids), 500):
            chunk = list(batch_ids[start : start + 500])
            marks = ", ".join("?" * len(chunk))
            sql = f"SELECT DISTINCT run_id FROM batches WHERE id IN ({marks})"  # noqa: S608
            runs.update(str(r) for (r,) in db.execute(sql, chunk) if r is not None)
        return runs


# A keyed job's left-out recipients: each address's last reason, unless a run of the job sent
# to it (a recipient deferred by quiet hours one night and sent the next is not left out).
_JOB_SKIPS = (
    " FROM skips s WHERE profile = ? AND dedupe_key = ?"
    " AND created_at = (SELECT MAX(created_at) FROM skips t WHERE t.profile = s.profile"
    " AND t.dedupe_key = s.dedupe_key AND t.address = s.address)"
    " AND NOT EXISTS (SELECT 1 FROM batches b JOIN recipients r ON r.batch_id = b.id"
    " WHERE b.profile = s.profile AND b.dedupe_key = s.dedupe_key AND r.address = s.address)"
)
SKIPS_OF_JOB = "SELECT reason, COUNT(*)" + _JOB_SKIPS + " GROUP BY reason"
# The same recipients listed, a page at a time by (address) after the last one read.
SKIPPED_OF_JOB = (
    "SELECT address, reason, created_at" + _JOB_SKIPS + " AND address > ? ORDER BY address LIMIT ?"
)
SKIPPED_OF_RUN = (
    "SELECT address, reason, created_at FROM skips WHERE profile = ? AND run_id = ?"
    " AND address > ? ORDER BY address LIMIT ?"
)

"""Retention: what `ATTSMS_HISTORY_KEEP_DAYS` / `_BATCHES` let the history forget, and what
it never forgets (the rows a keyed job's re-run needs). `Retention`'s methods are
`HistoryStore`'s."""

from __future__ import annotations

import contextlib
import time
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from attsms.store.base import Connection


class Retention(ABC):
    """The pruning methods of `HistoryStore`."""

    read_only: bool

    @abstractmethod
    def _write(self, *, serialize: bool = True) -> contextlib.AbstractContextManager[Connection]:
        """A write transaction of the store (`HistoryStore._write`)."""

    def prune(
        self,
        *,
        keep_days: float | None = None,
        keep_batches: int | None = None,
        now: float | None = None,
    ) -> int:
        """Delete batches older than `keep_days` or beyond the newest `keep_batches`, with their
        recipients; returns the batches deleted.

        Retention never forgets a promise. Never a row of a job that a live run holds (an
        unexpired claim), nor of a keyed job that is not settled (a batch number without an
        accepted or may-have-gone attempt: failed, deferred, or never begun): its re-run reads
        them to send only the rest. A settled keyed job's rows go like any other, and its job is
        retired (`jobs.retired_at`): its key, fingerprint and counts stay, and a re-run with that
        key is refused (`acquire_job`), since nothing then tells who got the text. Keyed jobs
        with no batch ever pruned and none left (nothing was sent) are forgotten.
        """
        if keep_days is None and keep_batches is None:
            return 0
        now = time.time() if now is None else now
        clauses: list[str] = []
        params: list[Any] = []
        if keep_days is not None:
            clauses.append("created_at < ?")
            params.append(now - keep_days * 86400)
        if keep_batches is not None:
            clauses.append(
                "id NOT IN (SELECT id FROM batches ORDER BY created_at DESC, id DESC LIMIT ?)"
            )
            params.append(max(0, keep_batches))
        where = f"({' OR '.join(clauses)}) AND {_PRUNABLE}"
        with self._write() as db:
            # First the jobs losing rows: retired in the same transaction as the rows go.
            db.execute(
                "UPDATE jobs SET retired_at = ? WHERE retired_at IS NULL AND EXISTS"  # noqa: S608
                f" (SELECT 1 FROM batches WHERE {where} AND batches.profile = jobs.profile"
                " AND batches.account = jobs.account AND batches.dedupe_key = jobs.key)",
                [now, *params, now],
            )
            deleted = db.execute(f"DELETE FROM batches WHERE {where}", [*params, now]).rowcount  # noqa: S608
            # Jobs no batch is left of and none was pruned of (nothing was sent), unless a live
            # run holds them (one just acquired has no batch yet).
            db.execute(
                "DELETE FROM jobs WHERE retired_at IS NULL"
                " AND (owner_run IS NULL OR expires_at <= ?)"
                " AND NOT EXISTS (SELECT 1 FROM batches b WHERE b.profile = jobs.profile"
                " AND b.account = jobs.account AND b.dedupe_key = jobs.key)",
                (now,),
            )
            # The notes of who a send left out go with the sends: older than every batch kept.
            db.execute(
                "DELETE FROM skips WHERE created_at < COALESCE((SELECT MIN(created_at)"
                " FROM batches), ?)",
                (now if keep_days is None else now - keep_days * 86400,),
            )
        return int(deleted)

    def prune_to(self, *, keep_days: float | None, keep_batches: int | None) -> int:
        """`prune` to the retention the run's settings give (both None: keep everything)."""
        if self.read_only or (keep_days is None and keep_batches is None):
            return 0
        return self.prune(keep_days=keep_days, keep_batches=keep_batches)


# A batch retention may delete (its one parameter: now): not keyed, or of a keyed job that no live
# run holds and whose every batch number has an attempt that was accepted or may have gone.
_PRUNABLE = (
    "(dedupe_key IS NULL OR EXISTS (SELECT 1 FROM jobs j WHERE j.profile = batches.profile"
    " AND j.account = batches.account AND j.key = batches.dedupe_key"
    " AND NOT (j.owner_run IS NOT NULL AND j.expires_at > ?)"
    " AND (SELECT COUNT(DISTINCT s.batch_number) FROM batches s WHERE s.profile = j.profile"
    " AND s.account = j.account AND s.dedupe_key = j.key"
    " AND s.outcome IN ('accepted', 'sending', 'unknown')) >= j.batch_count))"
)

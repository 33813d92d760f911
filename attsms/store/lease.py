"""The claims of keyed jobs: one live run at a time sends a dedupe key's batches.

A job is a row of the history's `jobs` table: the key's fingerprint (what was sent, to whom) and
the claim of the run that holds it (run id, host, pid and its start time, an expiry). A run
claims the job before it sends (`acquire_job`), renews the claim every HEARTBEAT_SECONDS from a
thread (`hold_job`), and releases it at the end. A claim is taken over once its holder is known
dead: at once for a process of this host that is gone, after LEASE_SECONDS without a renewal for
a run on another host. `claim_batch` checks the claim in the transaction that writes a batch
(`_check_owner`), so a run that lost its job sends nothing more of it.

A job outlives its batches: when retention prunes a settled job's batches (`HistoryStore.prune`)
it is retired (`retired_at`), and its key is refused from then on (`acquire_job`, `check_job`):
without the batches nothing tells who got the text, and sending it afresh would text them twice.

`JobClaims` is mixed into `HistoryStore`, whose transactions these run in.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attsms.core.errors import LockTimeoutError, StoreError, UsageError

if TYPE_CHECKING:
    from attsms.store.base import Connection

# A keyed job's claim: renewed every HEARTBEAT_SECONDS by the run that holds it, and free to take
# once LEASE_SECONDS pass without a renewal (a run on another host that died), or at once when
# its owner is a process on this host that no longer exists.
HEARTBEAT_SECONDS = 2.0
# The fingerprint of the same job run another way (`SendPlan.zoned_twin`), and the error that
# names that difference.
NearMiss = tuple[str, UsageError]
LEASE_SECONDS = 20.0


class JobTakenError(LockTimeoutError):
    """Another run took over this run's keyed job (its claim had expired): stop sending it."""


@dataclass(frozen=True)
class JobOwner:
    """The run that holds a keyed job: enough to name it, and to tell on this host if it died."""

    run_id: str
    host: str
    pid: int
    process_start: str | None  # the kernel's start time of `pid`: a reused pid is another process
    since: float  # epoch seconds

    @classmethod
    def current(cls, run_id: str) -> JobOwner:
        pid = os.getpid()
        return cls(run_id, hostname(), pid, _process_start(pid), time.time())

    def describe(self) -> str:
        when = _local(self.since).strftime("%Y-%m-%d %H:%M:%S")
        return f"pid {self.pid} on {self.host}, running since {when}"

    def dead(self) -> bool:
        """Surely gone: a process of this host that no longer exists (or is another process now).
        A run on another host is only known dead once its claim expires."""
        if self.host != hostname():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # alive, another user's
            pass
        return self.process_start is not None and _process_start(self.pid) != self.process_start


@dataclass(frozen=True)
class JobClaim:
    """What `acquire_job` found: a new key, or a known one (taken over from `previous`, if a run
    held it and died), and whether its batches follow the input order (a version-1 job)."""

    new: bool
    ordered: bool = False
    previous: JobOwner | None = None


def hostname() -> str:
    """This host's name as job claims record it. `ATTSMS_HOSTNAME` overrides it: tests play two
    hosts on one machine, and containers that share one hostname can tell themselves apart."""
    import socket

    return os.environ.get("ATTSMS_HOSTNAME") or socket.gethostname()


class JobClaims(ABC):
    """The keyed-job methods of `HistoryStore`: claim, renew, release, take over."""

    @abstractmethod
    def _write(self, *, serialize: bool = True) -> contextlib.AbstractContextManager[Connection]:
        """A write transaction of the store (`HistoryStore._write`)."""

    @abstractmethod
    def _read(self) -> contextlib.AbstractContextManager[Connection]:
        """A read of the store (`HistoryStore._read`)."""

    def acquire_job(
        self,
        *,
        profile: str,
        account: str,
        key: str,
        fingerprint: str,
        batch_count: int,
        recipient_count: int,
        owner: JobOwner,
        aliases: Sequence[str] = (),
        lock_timeout: float = 0.0,
        ordered_fingerprint: str | None = None,
        near_miss: NearMiss | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> JobClaim:
        """Tie `key` to one job and claim it for `owner`, the one live run that may send it.

        A key already used for other text or other recipients is a `UsageError`: re-running with
        it would not be a retry of the same job. A claim held by a live run is waited for up to
        `lock_timeout` seconds, then `LockTimeoutError` names its holder. A claim whose holder
        died (this host: its process is gone; any host: it stopped renewing) is taken over.
        `ordered_fingerprint` is the job's fingerprint as version 1 computed it, for a job that
        an older attsms began; `aliases`, what an older attsms named `account` (a job found
        under one of them, or under none, is taken over as `account`'s). `near_miss`: a
        fingerprint of the same job run another way, and the error that says how, raised
        instead of "a different message or recipient list".
        """
        deadline = time.monotonic() + max(0.0, lock_timeout)
        while True:
            with self._write() as db:
                claim, holder = self._try_acquire(
                    db,
                    profile,
                    (account, *aliases),
                    key,
                    fingerprint,
                    ordered_fingerprint,
                    batch_count,
                    recipient_count,
                    owner,
                    near_miss,
                )
            if claim is not None:
                return claim
            assert holder is not None
            left = deadline - time.monotonic()
            if left <= 0:
                raise LockTimeoutError(
                    f"dedupe key {key!r} is being sent by another run ({holder.describe()})",
                    hint="let it finish, or wait for it with --lock-timeout SECONDS",
                )
            sleep(min(0.2, left))

    def _try_acquire(
        self,
        db: Connection,
        profile: str,
        accounts: tuple[str, ...],  # the account, then its older names
        key: str,
        fingerprint: str,
        ordered_fingerprint: str | None,
        batch_count: int,
        recipient_count: int,
        owner: JobOwner,
        near_miss: NearMiss | None = None,
    ) -> tuple[JobClaim | None, JobOwner | None]:
        now = time.time()
        account = accounts[0]
        where = (profile, account, key)
        row = db.execute(_JOB_SELECT, where).fetchone()
        if row is None and account and self._adopt(db, profile, accounts, key):
            row = db.execute(_JOB_SELECT, where).fetchone()
        if row is None:
            db.execute(
                "INSERT INTO jobs (profile, account, key, fingerprint, batch_count,"
                " recipient_count, created_at, owner_run, owner_host, owner_pid, owner_start,"
                " owner_since, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    *where,
                    fingerprint,
                    batch_count,
                    recipient_count,
                    now,
                    *_owner_values(owner),
                    now + LEASE_SECONDS,
                ),
            )
            return JobClaim(new=True), None
        _refuse_other_job(row, key, fingerprint, ordered_fingerprint, near_miss)
        stored, ordered = row[0], bool(row[1])
        holder = _owner(row[4:9])
        alive = row[9] is not None and row[9] > now and not (holder and holder.dead())
        if holder is not None and holder.run_id != owner.run_id and alive:
            return None, holder
        db.execute(
            "UPDATE jobs SET owner_run = ?, owner_host = ?, owner_pid = ?, owner_start = ?,"
            " owner_since = ?, expires_at = ? WHERE profile = ? AND account = ? AND key = ?",
            (*_owner_values(owner), now + LEASE_SECONDS, *where),
        )
        return JobClaim(new=False, ordered=ordered and stored != fingerprint, previous=holder), None

    @staticmethod
    def _adopt(db: Connection, profile: str, accounts: tuple[str, ...], key: str) -> bool:
        """Take over as `accounts[0]`'s the job `key` an older attsms kept under another name
        of the account (`accounts[1:]`) or under none (''): it can only have been this
        account's. Its batches and notes of who it left out go with it."""
        account = accounts[0]
        for old in ("", *accounts[1:]):
            moved = db.execute(
                "UPDATE jobs SET account = ? WHERE profile = ? AND account = ? AND key = ?",
                (account, profile, old, key),
            ).rowcount
            if moved:
                for table, column in (("batches", "dedupe_key"), ("skips", "dedupe_key")):
                    db.execute(
                        f"UPDATE {table} SET account = ?"  # noqa: S608
                        f" WHERE profile = ? AND account = ? AND {column} = ?",
                        (account, profile, old, key),
                    )
                return True
        return False

    def check_job(
        self,
        *,
        profile: str,
        account: str,
        key: str,
        fingerprint: str,
        ordered_fingerprint: str | None = None,
        near_miss: NearMiss | None = None,
        aliases: Sequence[str] = (),
    ) -> str | None:
        """What `acquire_job` would refuse, checked without claiming anything (a dry run): a
        `UsageError` for a key used for another job, or one whose record retention pruned.
        The account the job is kept under when the key is known (its batches say what is
        already sent: `account`, or one of its older names), None when new. Reads only; the
        history must be at this attsms's schema (opened for writing upgrades it)."""
        names = (account, *(("", *aliases) if account else ()))
        with self._read() as db:
            for name in names:
                row = db.execute(_JOB_SELECT, (profile, name, key)).fetchone()
                if row is not None:
                    break
        if row is None:
            return None
        _refuse_other_job(row, key, fingerprint, ordered_fingerprint, near_miss)
        return name

    def renew_job(self, profile: str, account: str, key: str, run_id: str) -> bool:
        """Keep `run_id`'s claim alive; False when it no longer holds it."""
        with self._write(serialize=False) as db:
            return bool(
                db.execute(
                    "UPDATE jobs SET expires_at = ?"
                    " WHERE profile = ? AND account = ? AND key = ? AND owner_run = ?",
                    (time.time() + LEASE_SECONDS, profile, account, key, run_id),
                ).rowcount
                == 1
            )

    def release_job(self, profile: str, account: str, key: str, run_id: str) -> None:
        """Give up `run_id`'s claim, so that the next run need not wait for it to expire."""
        with self._write(serialize=False) as db:
            db.execute(
                "UPDATE jobs SET owner_run = NULL, owner_host = NULL, owner_pid = NULL,"
                " owner_start = NULL, owner_since = NULL, expires_at = NULL"
                " WHERE profile = ? AND account = ? AND key = ? AND owner_run = ?",
                (profile, account, key, run_id),
            )

    def hold_job(self, profile: str, account: str, key: str, run_id: str) -> JobLease:
        """A context that renews the claim in the background and releases it at the end."""
        return JobLease(self, profile, account, key, run_id)

    def _check_owner(
        self, db: Connection, profile: str, account: str, key: str, run_id: str | None
    ) -> None:
        row = db.execute(
            "SELECT owner_run, owner_host, owner_pid, owner_start, owner_since FROM jobs"
            " WHERE profile = ? AND account = ? AND key = ?",
            (profile, account, key),
        ).fetchone()
        holder = _owner(row) if row is not None else None
        if holder is not None and holder.run_id != run_id:
            raise JobTakenError(
                f"another run took over dedupe key {key!r} ({holder.describe()});"
                " this run sends no more of it",
                hint="see `attsms history`; the other run sends the rest",
            )


class JobLease:
    """Renews a keyed job's claim every HEARTBEAT_SECONDS from a daemon thread while the run
    lasts, and releases it at the end. `lost` turns true once another run holds it."""

    def __init__(self, store: JobClaims, profile: str, account: str, key: str, run_id: str):
        self._store = store
        self._where = (profile, account, key, run_id)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="job-lease", daemon=True)
        self.lost = False

    def __enter__(self) -> JobLease:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        with contextlib.suppress(StoreError, LockTimeoutError):
            # An unreleased claim is only a wait: it expires, or its dead owner is noticed.
            self._store.release_job(*self._where)

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                if not self._store.renew_job(*self._where):
                    self.lost = True
                    return
            except (StoreError, LockTimeoutError):
                continue  # a busy or full disk now and then: the claim lasts LEASE_SECONDS


_JOB_SELECT = (
    "SELECT fingerprint, ordered, recipient_count, created_at,"
    " owner_run, owner_host, owner_pid, owner_start, owner_since, expires_at, retired_at"
    " FROM jobs WHERE profile = ? AND account = ? AND key = ?"
)


def _refuse_other_job(
    row: Sequence[Any],
    key: str,
    fingerprint: str,
    ordered_fingerprint: str | None,
    near_miss: NearMiss | None = None,
) -> None:
    """A `UsageError` (exit 2, nothing sent) when the job `row` (`_JOB_SELECT`) cannot be re-run
    as the job `fingerprint`: the key was used for other text or numbers, or retention pruned
    the job's batches, so nothing tells who got the text and sending it afresh could text
    somebody twice."""
    stored, ordered, stored_count, created_at, retired_at = (
        row[0],
        bool(row[1]),
        row[2],
        row[3],
        row[10],
    )
    when = _local(created_at).strftime("%Y-%m-%d %H:%M")
    if near_miss is not None and stored == near_miss[0]:
        raise near_miss[1]
    if stored not in (fingerprint, ordered_fingerprint if ordered else None):
        raise UsageError(
            f"dedupe key {key!r} was used on {when} for a different message or recipient"
            f" list ({stored_count} recipients)",
            hint="a re-run must send the same text to the same numbers; use a new key",
        )
    if retired_at is not None:
        pruned = _local(retired_at).strftime("%Y-%m-%d %H:%M")
        raise UsageError(
            f"dedupe key {key!r} was sent on {when} ({stored_count} recipients) and the history's"
            f" retention pruned its record on {pruned}: a re-run cannot tell who got it, so"
            " nothing was sent",
            hint="to send it again, use a new key; to re-run keyed jobs later, keep more"
            " history (ATTSMS_HISTORY_KEEP_DAYS / _BATCHES)",
        )


def _owner(row: Sequence[Any]) -> JobOwner | None:
    run_id, host, pid, start, since = row[:5]
    if run_id is None:
        return None
    return JobOwner(run_id, host or "?", int(pid or 0), start, float(since or 0.0))


def _owner_values(owner: JobOwner) -> tuple[Any, ...]:
    return (owner.run_id, owner.host, owner.pid, owner.process_start, owner.since)


def _process_start(pid: int) -> str | None:
    """The start time of process `pid` in clock ticks since boot (Linux), else None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()  # the name may hold spaces and parentheses
    return fields[19] if len(fields) > 19 else None


def _local(epoch: float) -> datetime:
    """`epoch` as this host's local time, for messages."""
    return datetime.fromtimestamp(epoch, tz=UTC).astimezone()

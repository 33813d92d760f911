"""What a store backend provides: the interface `HistoryStore` and `InboxStore` run their SQL on.

A backend is one database (a SQLite file, or a schema in a PostgreSQL database) with a schema
version, write transactions that serialize writers (what makes a dedupe claim or an opt-out a
check-then-write that holds across processes, and with PostgreSQL across hosts), reads, and named
locks that die with their holder (the `inbox pull` lock).

The stores write one SQL text for both backends: `?` placeholders, `INSERT OR IGNORE` and
`INSERT OR REPLACE INTO meta`, which the PostgreSQL backend translates. DDL differs per backend,
so migrations are given per backend name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol, TypeVar

from attsms.core.errors import StoreError


class Connection(Protocol):
    """The part of a DB-API connection the stores use inside `read()` and `write()`."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Any: ...


# Parameters a statement of `insert_rows` carries at most: SQLite's oldest limit (999).
MAX_PARAMETERS = 999


def insert_rows(db: Connection, insert: str, rows: Sequence[Sequence[Any]]) -> None:
    """`insert` ("INSERT ... (a, b) VALUES") of every row in as few statements as
    MAX_PARAMETERS allows, on either backend. Not executemany(): on SQLite it steps once a row,
    and each step gives up the GIL and waits to get it back from whichever thread holds it (a
    send's 16 workers, `listen`'s event loop), so a 50-recipient claim waited 50 times."""
    if not rows:
        return
    per_statement = max(1, MAX_PARAMETERS // len(rows[0]))
    for start in range(0, len(rows), per_statement):
        db.execute(*values_statement(insert, rows[start : start + per_statement]))


def values_statement(insert: str, rows: Sequence[Sequence[Any]]) -> tuple[str, list[Any]]:
    """`insert` ("INSERT ... (a, b) VALUES") of all `rows` as one statement and its parameters
    (at most MAX_PARAMETERS of them for SQLite's sake: the caller's to keep)."""
    values = "(" + ", ".join(["?"] * len(rows[0])) + ")"
    return insert + ", ".join([values] * len(rows)), [value for row in rows for value in row]


class Database(Protocol):
    @property
    def backend(self) -> str:
        """ "sqlite" or "postgresql"."""

    @property
    def path(self) -> Path | str:
        """The file, or the URL without its password and the schema (for messages)."""

    @property
    def what(self) -> str:
        """ "the history", "the inbox store": how errors name it."""

    @property
    def read_only(self) -> bool: ...

    @property
    def connection(self) -> Connection:
        """What `read()` and `write()` yield."""

    def version(self) -> int:
        """The schema version; 0 for a store nothing has written yet."""

    def migrate(self, target: int, steps: Mapping[str, Mapping[int, str]]) -> None:
        """Bring the store to `target` with `steps[backend][version]`; refuse a newer one."""

    def refuse_newer(self, version: int, target: int) -> None: ...

    def write(self, *, serialize: bool = True, durable: bool = True) -> AbstractContextManager[Any]:
        """One transaction; with `serialize`, no other serialized writer of this store runs
        beside it (what a check-then-write needs). `durable=False`: its commit need not wait for
        the disk (a power cut may lose it; a killed process does not)."""

    def read(self) -> AbstractContextManager[Any]: ...

    def errors(self, action: str) -> AbstractContextManager[None]:
        """Turns the driver's errors into one-line AttsmsErrors."""

    def named_lock(self, name: str, timeout: float) -> AbstractContextManager[None]:
        """Held until the block ends or the holder dies; TimeoutError after `timeout` s."""

    def close(self) -> None: ...

    # Both backends answer these too; tests and `store status` use them.
    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...

    @property
    def in_transaction(self) -> bool: ...


# Per backend: the schema steps, from a version to the current one.
Migrations = Mapping[str, Mapping[int, str]]


DatabaseT = TypeVar("DatabaseT", bound=Database)


def prepared(database: DatabaseT, target: int, steps: Mapping[str, Mapping[int, str]]) -> DatabaseT:
    """`database` at schema `target`: upgraded in place, or, opened read-only, refused when a
    newer attsms wrote it (reads need no upgrade: every version holds what they read). Closed
    when that fails."""
    try:
        if database.read_only:
            database.refuse_newer(database.version(), target)
        else:
            database.migrate(target, steps)
    except BaseException:
        database.close()
        raise
    return database


def refuse_newer_schema(version: int, target: int, *, store: str, hint: str) -> None:
    """A StoreError when `store` (its name and where it is) has schema `version`, newer than
    the `target` this attsms knows: a newer attsms wrote it, and this one could corrupt it."""
    if version > target:
        raise StoreError(
            f"{store} was written by a newer attsms (schema {version}, this attsms knows {target})",
            hint=hint,
        )


Item = TypeVar("Item")
Key = TypeVar("Key")


def keyset_pages(
    read: Callable[[Key | None, int], tuple[list[Item], Key | None]],
    *,
    limit: int | None,
    page: int,
    after: Key | None = None,
) -> Iterator[list[Item]]:
    """Rows a page at a time, at most `limit` in all (None: all there are): `read(after, size)`
    returns the next (at most) `size` rows past the key `after` (None: from the first), with the
    key of the last. Each page is its own read, so no long read is held open while the caller
    works; a page shorter than asked for is the last."""
    left = limit
    while left is None or left > 0:
        size = page if left is None else min(page, left)
        rows, after = read(after, size)
        if not rows:
            return
        yield rows
        if len(rows) < size:
            return
        if left is not None:
            left -= len(rows)

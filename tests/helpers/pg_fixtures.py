"""PostgreSQL for the store tests: one throwaway cluster per test session (tests/pg.py), a fresh
database per test, and the `backend` fixture that runs a test once per store backend.

Without initdb/pg_ctl/psycopg the PostgreSQL cases skip, except in CI
(`ATTSMS_TEST_REQUIRE_POSTGRES=1`), where they fail: a missing server must not pass unseen.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest

from tests.helpers import pg

_names = itertools.count()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[pg.Cluster]:
    why_not = pg.available()
    if why_not is not None:
        if os.environ.get("ATTSMS_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required here (ATTSMS_TEST_REQUIRE_POSTGRES=1): {why_not}")
        pytest.skip(f"no PostgreSQL: {why_not}")
    try:
        cluster = pg.start()
    except Exception as error:
        if os.environ.get("ATTSMS_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL did not start: {error}")
        pytest.skip(f"PostgreSQL did not start: {error}")
    yield cluster
    cluster.stop()


@pytest.fixture
def pg_url(pg_cluster: pg.Cluster) -> str:
    """A fresh, empty database on the session's cluster; its URL holds the password."""
    return pg_cluster.create_database(f"t{os.getpid()}_{next(_names)}")


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test on each store backend: local SQLite files, then a shared PostgreSQL
    database (ATTSMS_DATABASE_URL, which child attsms processes inherit)."""
    name: str = request.param
    if name == "postgresql":
        monkeypatch.setenv("ATTSMS_DATABASE_URL", request.getfixturevalue("pg_url"))
    else:
        monkeypatch.delenv("ATTSMS_DATABASE_URL", raising=False)
    return name

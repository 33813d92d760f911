"""A throwaway PostgreSQL cluster for tests and benchmarks: initdb in a temp dir, a free port,
password (scram) authentication, stopped at the end.

PostgreSQL refuses to run as root, so as root the cluster runs as the `postgres` system user
(`runuser -u postgres --`). `ATTSMS_TEST_DATABASE_URL` points the tests at a server that is already
running instead (CI may start one with .ci/postgres.sh); its user must be able to create databases.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PASSWORD = "attsms-test-secret"
USER = "attsms_test"


@dataclass
class Cluster:
    host: str
    port: int
    user: str
    password: str
    directory: Path | None = None  # ours to stop and delete; None: a server someone else runs

    def url(self, database: str = "postgres", *, password: bool = True) -> str:
        secret = f":{self.password}" if password else ""
        return f"postgresql://{self.user}{secret}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A fresh, empty database; returns its URL (with the password)."""
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.admin(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True, connect_timeout=10) as connection:
            connection.execute(sql.encode())

    def stop(self) -> None:
        if self.directory is None:
            return
        _as_postgres(
            ["pg_ctl", "-D", str(self.directory / "data"), "-m", "immediate", "-w", "stop"],
            check=False,
        )
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory = None


def available() -> str | None:
    """Why no cluster can be started here, or None when one can."""
    if os.environ.get("ATTSMS_TEST_DATABASE_URL"):
        return None
    for tool in ("initdb", "pg_ctl"):
        if shutil.which(tool) is None:
            return f"{tool} is not on PATH (install the postgresql package)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install 'psycopg[binary]')"
    if _is_root() and shutil.which("runuser") is None:
        return "running as root without runuser"
    return None


def start(*, fsync: bool = False) -> Cluster:
    """Start a cluster (or use ATTSMS_TEST_DATABASE_URL's server)."""
    given = os.environ.get("ATTSMS_TEST_DATABASE_URL")
    if given:
        from urllib.parse import urlsplit

        parts = urlsplit(given)
        return Cluster(
            parts.hostname or "127.0.0.1",
            parts.port or 5432,
            parts.username or "postgres",
            parts.password or os.environ.get("PGPASSWORD", ""),
        )
    directory = Path(tempfile.mkdtemp(prefix="attsms-pg-"))
    try:
        (directory / "pw").write_text(PASSWORD + "\n")
        if _is_root():
            shutil.chown(directory, "postgres", "postgres")
            shutil.chown(directory / "pw", "postgres", "postgres")
        directory.chmod(0o700)
        _as_postgres(
            [
                "initdb",
                "-D",
                str(directory / "data"),
                "-U",
                USER,
                "--pwfile",
                str(directory / "pw"),
                "--auth",
                "scram-sha-256",
                "-E",
                "UTF8",
                "--locale",
                "C",
                "--no-sync",
            ]
        )
        port = _free_port()
        options = (
            f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c max_connections=200"
            f" -c fsync={'on' if fsync else 'off'} -c full_page_writes={'on' if fsync else 'off'}"
        )
        _as_postgres(
            [
                "pg_ctl",
                "-D",
                str(directory / "data"),
                "-o",
                options,
                "-l",
                str(directory / "log"),
                "-w",
                "-t",
                "60",
                "start",
            ]
        )
    except BaseException:
        log = directory / "log"
        detail = log.read_text()[-2000:] if log.exists() else ""
        shutil.rmtree(directory, ignore_errors=True)
        if detail:
            raise RuntimeError(f"PostgreSQL did not start:\n{detail}") from None
        raise
    return Cluster("127.0.0.1", port, USER, PASSWORD, directory)


@contextlib.contextmanager
def running(**options: Any) -> Iterator[Cluster]:
    cluster = start(**options)
    try:
        yield cluster
    finally:
        cluster.stop()


def _as_postgres(argv: list[str], *, check: bool = True) -> None:
    if _is_root():
        argv = ["runuser", "-u", "postgres", "--", *argv]
    subprocess.run(argv, check=check, capture_output=True, cwd="/")


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])

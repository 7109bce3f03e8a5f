"""A throwaway PostgreSQL cluster from Debian's package, for Airflow's metadata database."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg2


def run(command: Sequence[str], *, timeout: float = 120, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a set-up command; a non-zero exit raises with its output."""
    result = subprocess.run(
        list(command), capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )
    if result.returncode != 0:
        output = f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        raise RuntimeError(f"{' '.join(command)} exited {result.returncode}:\n{output}")
    return result


class PostgresCluster:
    """A cluster in ``root`` on 127.0.0.1:``port`` with a database and role ``airflow``.

    Durability is off (a throwaway cluster). PostgreSQL refuses to run as root: as root, the server tools run
    as the ``postgres`` user, so ``root`` must be reachable by that user.
    """

    def __init__(self, bin_dir: Path, root: Path, port: int) -> None:
        self.bin = bin_dir
        self.root = root
        self.data = root / "data"
        self.log = root / "postgres.log"
        self.port = port
        self.password = secrets.token_urlsafe(18)
        self.started = False
        self.as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    @property
    def url(self) -> str:
        """The SQLAlchemy URL Airflow connects with."""
        return self.url_of("airflow")

    def url_of(self, database: str) -> str:
        return f"postgresql+psycopg2://airflow:{self.password}@127.0.0.1:{self.port}/{database}"

    def _tool(self, name: str, *args: str) -> list[str]:
        return [*self.as_owner, str(self.bin / name), *args]

    def start(self) -> None:
        self.root.mkdir(mode=0o700)
        if self.as_owner:
            shutil.chown(self.root, "postgres", "postgres")
        auth = ["--auth-local=trust", "--auth-host=scram-sha-256"]
        run(self._tool("initdb", "-D", str(self.data), "-U", "postgres", *auth, "-E", "UTF8", "--no-sync"))
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=200"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        start = ["-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start"]
        run(self._tool("pg_ctl", *start))
        self.started = True
        # Over the trusted local socket: the role and database Airflow then uses over TCP with a password.
        self._psql(f"CREATE ROLE airflow LOGIN PASSWORD '{self.password}'")
        self.create_database("airflow")

    def create_database(self, name: str) -> None:
        """Another database owned by ``airflow`` (a second Airflow beside the first, say)."""
        self._psql(f"CREATE DATABASE {name} OWNER airflow")

    def _psql(self, sql: str) -> None:
        where = ["-h", str(self.root), "-p", str(self.port), "-U", "postgres", "-d", "postgres"]
        run(self._tool("psql", *where, "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql))

    def connect(self, database: str = "airflow") -> Any:
        connection = psycopg2.connect(
            host="127.0.0.1", port=self.port, user="airflow", password=self.password, dbname=database
        )
        connection.autocommit = True
        return connection

    def stop(self) -> None:
        if self.started:
            self.started = False
            command = self._tool("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
            subprocess.run(command, capture_output=True, timeout=60, check=False)


class MetadataDb:
    """Read-only questions to Airflow's metadata database, one autocommit connection."""

    def __init__(self, cluster: PostgresCluster, database: str = "airflow") -> None:
        self.connection = cluster.connect(database)

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall())

    def value(self, sql: str, *params: Any) -> Any:
        found = self.rows(sql, *params)
        return found[0][0] if found else None

    def close(self) -> None:
        self.connection.close()

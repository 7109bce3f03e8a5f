"""Shared fixtures: a sandbox on loopback, clients and hooks pointed at it, a real Airflow home."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_truto.client import TrutoClient, TrutoConfig
from airflow_provider_truto.testing import TrutoSandbox

REPO = Path(__file__).resolve().parents[1]
AIRFLOW_VERSION = tuple(int(part) for part in version("apache-airflow").split(".")[:2])
ACCOUNT = "acct-1"
TOKEN = "tok-s3cr3t-0123456789"


class SleepRecorder:
    """Stands in for time.sleep in the retry loop: records each wait instead of sleeping it."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sandbox(truto_sandbox_factory: Callable[..., TrutoSandbox]) -> TrutoSandbox:
    sb = truto_sandbox_factory(token=TOKEN)
    sb.add_account(ACCOUNT)
    sb.seed_channels(ACCOUNT, 60, seed=3)
    return sb


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def make_client(sandbox: TrutoSandbox, sleeps: SleepRecorder) -> Iterator[Callable[..., TrutoClient]]:
    clients: list[TrutoClient] = []

    def make(**overrides: Any) -> TrutoClient:
        settings: dict[str, Any] = {
            "token": TOKEN,
            "base_url": sandbox.url,
            "integrated_account_id": ACCOUNT,
            "account_rate_limit": None,
            "token_rate_limit": None,
            **overrides,
        }
        client = TrutoClient(TrutoConfig(**settings), sleep=sleeps)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def connection_json(sandbox: TrutoSandbox, **extra: Any) -> str:
    """An AIRFLOW_CONN_* value for the sandbox; pacing off unless a test asks for it."""
    extras = {"integrated_account_id": ACCOUNT, "rate_limit": "off", "environment_rate_limit": "off", **extra}
    return json.dumps({"conn_type": "truto", "host": sandbox.url, "password": sandbox.token, "extra": extras})


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A temporary AIRFLOW_HOME with a migrated SQLite metadata database, shared by the session."""
    home = tmp_path_factory.mktemp("airflow-home")
    env = airflow_env(home)
    subprocess.run(
        [str(Path(sys.executable).with_name("airflow")), "db", "migrate"],
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return home


def airflow_env(home: Path, dags_folder: Path | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW__"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder or REPO / "example_dags"),
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "TRUTO_RATE_LIMIT_DIR": str(home / "rate-limits"),
            **extra,
        }
    )
    return env


def run_dag_test(
    airflow_home: Path,
    dag_id: str,
    *,
    conn: str,
    conf: dict[str, Any] | None = None,
    dags_folder: Path | None = None,
    timeout: float = 900,
    **env: str,
) -> subprocess.CompletedProcess[str]:
    """``airflow dags test`` in a subprocess, as a user would run it; returns its output."""
    command = [str(Path(sys.executable).with_name("airflow")), "dags", "test", dag_id]
    if conf:
        command += ["--conf", json.dumps(conf)]
    return subprocess.run(
        command,
        env=airflow_env(airflow_home, dags_folder, AIRFLOW_CONN_TRUTO_DEFAULT=conn, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def token_leaks(text: str, token: str = TOKEN) -> list[str]:
    """Lines of Airflow output that carry the token.

    Airflow 3.0's own supervisor logs each secret it is asked to mask (``MaskSecret(value=...)``) at debug
    level under ``airflow dags test``; 3.1 stopped that. Those lines are Airflow's, not this provider's, so
    on 3.0 they are left out. Every other line counts.
    """
    airflow_3_0 = AIRFLOW_VERSION < (3, 1)
    return [
        line
        for line in text.splitlines()
        if token in line and not (airflow_3_0 and "MaskSecret(value=" in line)
    ]
